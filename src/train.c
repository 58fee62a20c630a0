/* train.c - the training loop: one step reads top to bottom in train_step(). */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "jetcnn/train.h"

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jetcnn/checkpoint.h"
#include "jetcnn/dist.h"
#include "jetcnn/loss.h"
#include "jetcnn/optim.h"
#include "jetcnn/roc.h"
#include "jetcnn/steptime.h"

/* Statistics carried at the end of every gradient row, reduced with the gradients. */
enum { STAT_LOSS, STAT_CORRECT, STAT_SAMPLES, N_STATS };

typedef struct {
  jc_net *net;
  const jc_train_opts *opts;
  MPI_Comm comm;
  int rank, size;
  jc_data *train, *val;
  jc_plan *plan;
  float *params;      /* n_params */
  size_t row_len;     /* n_params + N_STATS */
  int max_local;      /* most micro-batches one rank computes in a step */
  float *rows;        /* max_local rows: per-micro-batch gradients + statistics */
  float *sum;         /* row_len: the global sum of all rows */
  float *x;           /* max_local * micro_batch jets, NCHW: the current step's input */
  float *x_next;      /* the same for the next step, filled by the prefetch thread */
  int prefetch;       /* 1: read step s+1 in a background thread during step s */
  int prefetched;     /* the next step's input is in x (or its read failed: prefetched_rc) */
  jc_code prefetched_rc;
  jc_err prefetched_err;
  int n_threads;
  jc_net_ws **ws;     /* one per thread */
  jc_optim *opt;
  jc_reducer *red;
  int64_t step;       /* optimizer steps taken */
  int stop;           /* a stop signal reached some rank: agreed in the last step's reduction */
  int64_t saved_step; /* step of the newest checkpoint (-1: none yet) */
  char *metrics;      /* metrics.csv so far (header and one row per epoch), saved in checkpoints */
  double t_start;
  double t_read, t_compute, t_reduce, t_update; /* seconds spent in each part of the steps */
} trainer;

static double now(void) { return MPI_Wtime(); }

/* Name of reduced segment s, for error messages: "layer03 (conv) kernel". */
static void segment_name(const trainer *t, int s, char *buf, size_t n) {
  int seg = 0;
  for (int i = 0; i < t->net->n_layers; i++) {
    const jc_layer *l = &t->net->layers[i];
    if (l->n_kernel == 0) continue;
    if (seg == s || seg + 1 == s) {
      snprintf(buf, n, "the gradient of layer%02d (%s) %s", l->index, l->ops->section, seg == s ? "kernel" : "bias");
      return;
    }
    seg += 2;
  }
  snprintf(buf, n, "the loss");
}

/* ---- input: this rank's blocks of one step ---- */
/* Read (and normalise) this rank's share of the blocks of step s into x. */
static jc_code read_step(trainer *t, size_t s, float *x, jc_err *err) {
  const jc_plan *p = t->plan;
  const size_t per = shape_size(t->net->hp.input);
  size_t first, count, lo, hi;
  plan_step(p, s, &first, &count);
  plan_share(count, t->rank, t->size, &lo, &hi);
  for (size_t k = 0; k < hi - lo; k++) {
    size_t start, len;
    plan_block(p, p->order[first + lo + k], &start, &len);
    float *xk = x + k * p->micro * per;
    JC_TRY(data_read(t->train, start, len, xk, err));
    net_normalize_input(t->net, xk, (int)len);
  }
  return JC_OK;
}

/* Background read of the next step, so that I/O and decompression overlap the compute.
 * It runs only while the main thread computes (no MPI calls), so MPI_THREAD_SERIALIZED
 * suffices, and HDF5 is never entered by two threads at once. */
typedef struct {
  trainer *t;
  size_t step;
  jc_code rc;
  jc_err err;
  pthread_t thread;
  int running;
} prefetch_job;

static void *prefetch_main(void *arg) {
  prefetch_job *job = arg;
  jc_err_clear(&job->err);
  job->rc = read_step(job->t, job->step, job->t->x_next, &job->err);
  return NULL;
}

static void prefetch_start(trainer *t, prefetch_job *job, size_t step) {
  job->t = t;
  job->step = step;
  job->rc = JC_OK;
  job->running = t->prefetch && step < t->plan->n_steps && pthread_create(&job->thread, NULL, prefetch_main, job) == 0;
}

/* Wait for the prefetch; on success swap it in as the current input. Returns its result. */
static jc_code prefetch_finish(trainer *t, prefetch_job *job, jc_err *err) {
  if (!job->running) return JC_OK;
  pthread_join(job->thread, NULL);
  job->running = 0;
  if (job->rc != JC_OK) {
    *err = job->err;
    return job->rc;
  }
  float *tmp = t->x;
  t->x = t->x_next;
  t->x_next = tmp;
  return JC_OK;
}

/* ---- one training step ---- */
static jc_code train_step(trainer *t, size_t s, int64_t epoch, jc_err *err) {
  const jc_net *net = t->net;
  const jc_plan *p = t->plan;
  const size_t per = shape_size(net->hp.input), micro = p->micro;
  size_t first, count, lo, hi;
  plan_step(p, s, &first, &count);
  plan_share(count, t->rank, t->size, &lo, &hi);
  const int n_local = (int)(hi - lo);

  /* Samples in the whole global batch (every rank knows): the gradient is their mean. */
  size_t batch_n = 0;
  for (size_t k = 0; k < count; k++) {
    size_t start, len;
    plan_block(p, p->order[first + k], &start, &len);
    batch_n += len;
  }
  const float scale = 1.0f / (float)batch_n;

  /* 1. This rank's blocks (read now unless the prefetch thread already did), then start
   * reading the next step's in the background. */
  double t0 = now();
  jc_code rc;
  if (t->prefetched) { /* its failure, if any, is agreed on below like any other */
    rc = t->prefetched_rc;
    if (rc != JC_OK) *err = t->prefetched_err;
    t->prefetched = 0;
  } else {
    rc = read_step(t, s, t->x, err);
  }
  prefetch_job job = {0};
  if (rc == JC_OK) prefetch_start(t, &job, s + 1);

  /* 2. Forward, loss and backward of each micro-batch into its own row, one per thread. */
  double t1 = now();
  t->t_read += t1 - t0;
  if (rc == JC_OK) {
#pragma omp parallel for schedule(dynamic, 1)
    for (int k = 0; k < n_local; k++) {
      size_t start, len;
      plan_block(p, p->order[first + lo + (size_t)k], &start, &len);
      jc_net_ws *w = t->ws[omp_get_thread_num()];
      float *row = t->rows + (size_t)k * t->row_len;
      const float *x = t->x + (size_t)k * micro * per;
      jc_ctx ctx = {.training = 1, .seed = net->hp.seed, .step = (uint64_t)t->step, .first_sample = start};
      memset(row, 0, t->row_len * sizeof *row);
      int hits = 0;
      double loss = net_train_micro(net, t->params, w, x, t->train->labels + start, (int)len, scale, ctx, row, &hits);
      row[net->n_params + STAT_LOSS] = (float)loss;
      row[net->n_params + STAT_CORRECT] = (float)hits;
      row[net->n_params + STAT_SAMPLES] = (float)len;
    }
  }

  /* 3. Exact sum over all micro-batches of all ranks (also agrees on failures). The
   * prefetch is joined first: only one thread may be inside MPI. */
  double t2 = now();
  t->t_compute += t2 - t1;
  if (job.running) {
    t->prefetched_rc = prefetch_finish(t, &job, &t->prefetched_err); /* swaps x and x_next */
    t->prefetched = 1;
  }
  t->t_read += now() - t2;
  t2 = now();
  int bad = -1;
  t->red->flag = t->opts->stop ? (int)*t->opts->stop : 0; /* a signal on any rank stops all after this step */
  rc = dist_sum_exact(t->comm, t->red, t->rows, n_local, (long)count, t->sum, rc, &bad, err);
  t->stop = t->red->flag;
  double t3 = now();
  t->t_reduce += t3 - t2;
  if (rc != JC_OK) {
    if (bad >= 0) {
      char what[96], kept[64] = "no checkpoint written yet";
      segment_name(t, bad, what, sizeof what);
      if (t->saved_step >= 0) snprintf(kept, sizeof kept, "the checkpoint of step %lld is kept", (long long)t->saved_step);
      return jc_fail(err, JC_ERR_RUNTIME, "epoch %lld, step %lld: %s is not finite (NaN or Inf); %s; "
                     "lower learning_rate or check the input", (long long)epoch + 1, (long long)t->step + 1, what,
                     kept);
    }
    return rc;
  }

  /* 4. Update the weights (identically on every rank). */
  optim_step(t->opt, &net->hp, t->params, t->sum, optim_lr(&net->hp, t->step, (int64_t)p->n_steps));
  t->step++;
  t->t_update += now() - t3;
  return JC_OK;
}

/* ---- validation ---- */
typedef struct {
  double loss, acc, auc, rej30;
} val_stats;

static jc_code validate(trainer *t, val_stats *vs, jc_err *err) {
  const jc_net *net = t->net;
  jc_data *d = t->val;
  size_t lo, hi;
  plan_share(d->n, t->rank, t->size, &lo, &hi);
  const int K = net->n_classes;
  float *probs = jc_malloc(((hi - lo) * (size_t)K + 1) * sizeof *probs, err);
  float *score = jc_malloc(((hi - lo) + 1) * sizeof *score, err);
  float *all = t->rank == 0 ? jc_malloc((d->n + 1) * sizeof *all, err) : NULL;
  int *counts = jc_malloc((size_t)t->size * sizeof *counts, err), *displs = jc_malloc((size_t)t->size * sizeof *displs, err);
  double loss = 0.0;
  long correct = 0;
  jc_code rc = (!probs || !score || (t->rank == 0 && !all) || !counts || !displs) ? JC_ERR_NOMEM : JC_OK;
  if (rc == JC_OK) rc = eval_range(net, t->params, d, lo, hi - lo, probs, &loss, &correct, err);
  rc = dist_agree(t->comm, rc, err);
  if (rc == JC_OK) {
    double sums[2] = {loss, (double)correct};
    MPI_Allreduce(MPI_IN_PLACE, sums, 2, MPI_DOUBLE, MPI_SUM, t->comm);
    vs->loss = sums[0] / (double)d->n;
    vs->acc = sums[1] / (double)d->n;
    vs->auc = vs->rej30 = NAN;
    for (size_t i = 0; i < hi - lo; i++) score[i] = probs[i * (size_t)K + (K > 1 ? 1 : 0)];
    for (int r = 0; r < t->size; r++) {
      size_t a, b;
      plan_share(d->n, r, t->size, &a, &b);
      counts[r] = (int)(b - a);
      displs[r] = (int)a;
    }
    MPI_Gatherv(score, (int)(hi - lo), MPI_FLOAT, all, counts, displs, MPI_FLOAT, 0, t->comm);
    if (t->rank == 0 && K == 2) {
      jc_err roc_err;
      jc_err_clear(&roc_err);
      if (roc_metrics(all, d->labels, d->n, 0.3, &vs->auc, &vs->rej30, &roc_err) != JC_OK) vs->auc = vs->rej30 = NAN;
    }
  }
  free(probs);
  free(score);
  free(all);
  free(counts);
  free(displs);
  return rc;
}

/* ---- run directory and logs (rank 0) ---- */
static jc_code make_dirs(const char *path, jc_err *err) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
      return jc_fail(err, JC_ERR_IO, "%s: cannot create directory: %s", buf, strerror(errno));
    *p = '/';
  }
  if (mkdir(buf, 0777) != 0 && errno != EEXIST)
    return jc_fail(err, JC_ERR_IO, "%s: cannot create run directory: %s", buf, strerror(errno));
  return JC_OK;
}

/* Write the config actually used (overrides included) to DIR/config.cfg, atomically. */
static jc_code prepare_run_dir(const trainer *t, jc_err *err) {
  const char *dir = t->opts->out_dir;
  char path[4096];
  JC_TRY(make_dirs(dir, err));
  char *text = config_to_text(t->net->cfg, err);
  if (!text) return err->code;
  char tmp[4200];
  snprintf(path, sizeof path, "%s/config.cfg", dir);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  jc_code rc = JC_OK;
  if (!f) rc = jc_fail(err, JC_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
  if (f) {
    fprintf(f, "; config used by jetcnn train (with --set overrides applied), from %s\n%s", t->net->cfg->path, text);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) rc = jc_fail(err, JC_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    if (fclose(f) != 0 && rc == JC_OK) rc = jc_fail(err, JC_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    if (rc == JC_OK && rename(tmp, path) != 0) rc = jc_fail(err, JC_ERR_IO, "%s: cannot rename: %s", tmp, strerror(errno));
    if (rc != JC_OK) unlink(tmp);
  }
  free(text);
  return rc;
}

#define METRICS_HEADER \
  "epoch,step,lr,train_loss,train_acc,val_loss,val_acc,val_auc,val_rej30,img_per_s,seconds," STEPTIME_CSV_HEADER "\n"

/* DIR/metrics.csv holding t->metrics (the rows so far: a resumed run drops rows written after
 * its checkpoint), left open for appending. */
static jc_code open_metrics(const trainer *t, FILE **out, jc_err *err) {
  char path[4096];
  snprintf(path, sizeof path, "%s/metrics.csv", t->opts->out_dir);
  FILE *f = fopen(path, "w");
  if (!f) return jc_fail(err, JC_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
  if (fputs(t->metrics, f) == EOF || fflush(f) != 0) {
    fclose(f);
    return jc_fail(err, JC_ERR_IO, "%s: write failed: %s", path, strerror(errno));
  }
  *out = f;
  return JC_OK;
}

/* Append one formatted row to t->metrics. */
static jc_code metrics_append(trainer *t, const char *row, jc_err *err) {
  size_t have = strlen(t->metrics), add = strlen(row);
  char *grown = realloc(t->metrics, have + add + 1);
  if (!grown) return jc_fail(err, JC_ERR_NOMEM, "out of memory (metrics log)");
  memcpy(grown + have, row, add + 1);
  t->metrics = grown;
  return JC_OK;
}

/* ---- starting, resuming or refusing: what the run directory holds decides ---- */
typedef enum { RUN_NEW, RUN_RESUME, RUN_FINISHED } run_start;

/* Decide how this run starts (collective; rank 0 looks at the directory). On RUN_RESUME the
 * weights, optimizer state and *at come from DIR/checkpoint.h5; on RUN_NEW from the seed or
 * --init. A checkpoint of another config is refused, naming what changed. */
static jc_code open_run(trainer *t, jc_progress *at, run_start *how, jc_err *err) {
  const jc_train_opts *o = t->opts;
  const jc_hparams *hp = &t->net->hp;
  char path[4096];
  snprintf(path, sizeof path, "%s/checkpoint.h5", o->out_dir);
  int have[2] = {t->rank == 0 && access(path, F_OK) == 0, t->rank == 0 ? checkpoint_history_count(o->out_dir) : 0};
  MPI_Bcast(have, 2, MPI_INT, 0, t->comm);
  *how = RUN_NEW;
  if (o->resume && o->force) return jc_fail(err, JC_ERR_USAGE, "train: --resume and --force contradict each other");
  if (!have[0] && have[1] && !o->force) /* a new run's pruning would delete its own checkpoints first */
    return jc_fail(err, JC_ERR_USAGE, "%s: run directory holds %d checkpoint-STEP.h5 files but no checkpoint.h5; "
                   "copy the one to resume from to checkpoint.h5, or pass --force to start over", o->out_dir, have[1]);
  if (!have[0] || o->force) {
    if (o->resume)
      return jc_fail(err, JC_ERR_USAGE, "%s: nothing to resume: no checkpoint.h5 (leave out --resume to start a run)",
                     o->out_dir);
    if (o->force) checkpoint_remove_history(o->out_dir, t->comm); /* they belong to the run started over */
    if (o->init_path) JC_TRY(checkpoint_read(o->init_path, t->net, t->params, NULL, NULL, t->comm, err));
    return JC_OK;
  }
  char *stored = checkpoint_read_config(path, t->comm, err);
  if (!stored) return err->code;
  char *changes = checkpoint_config_changes(stored, t->net->cfg, err);
  free(stored);
  if (!changes) return err->code;
  jc_code rc = JC_OK;
  if (changes[0])
    rc = jc_fail(err, JC_ERR_USAGE, "%s: run directory already holds a checkpoint of a different config (%s); "
                 "choose another --out, or pass --force to start over", o->out_dir, changes);
  free(changes);
  JC_TRY(rc);
  JC_TRY(checkpoint_read(path, t->net, t->params, t->opt, at, t->comm, err));
  if (at->train_jets != 0 && at->train_jets != (int64_t)t->train->n)
    return jc_fail(err, JC_ERR_USAGE, "%s: cannot resume: %s holds %zu jets but the run was trained on %lld",
                   o->out_dir, o->train_path, t->train->n, (long long)at->train_jets);
  if (at->epoch_step < 0 || (size_t)at->epoch_step >= t->plan->n_steps || at->epoch > hp->epochs)
    return jc_fail(err, JC_ERR_DATA, "%s: epoch %lld, step %lld of the epoch do not fit this run (%zu steps per epoch)",
                   path, (long long)at->epoch, (long long)at->epoch_step, t->plan->n_steps);
  if (at->epoch >= hp->epochs) {
    if (!o->resume)
      return jc_fail(err, JC_ERR_USAGE, "%s: run directory already holds a checkpoint; choose another --out or pass "
                     "--force (it holds a finished run of %ld epochs; --resume does nothing)", o->out_dir, hp->epochs);
    *how = RUN_FINISHED;
    return JC_OK;
  }
  *how = RUN_RESUME;
  return JC_OK;
}

/* Progress display: a bar redrawn in place on a terminal, plain lines otherwise.
 * JETCNN_PROGRESS=bar|lines|none overrides (mpirun hands ranks a pseudo-terminal even when
 * its own output goes to a file, so the bar is also throttled to two redraws a second). */
static int progress_mode(void) {
  static int mode = -1; /* 0 none, 1 lines, 2 bar */
  if (mode < 0) {
    const char *env = getenv("JETCNN_PROGRESS");
    if (env && strcmp(env, "none") == 0) mode = 0;
    else if (env && strcmp(env, "lines") == 0) mode = 1;
    else if (env && strcmp(env, "bar") == 0) mode = 2;
    else mode = isatty(STDOUT_FILENO) ? 2 : 1;
  }
  return mode;
}

static void progress(const trainer *t, int64_t epoch, size_t s, double loss, double acc, double t0, size_t samples) {
  static double last_draw = 0.0;
  if (t->rank != 0 || progress_mode() == 0) return;
  const size_t n_steps = t->plan->n_steps;
  const int last = s + 1 == n_steps;
  double el = now() - t0, rate = el > 0 ? (double)samples / el : 0.0;
  double eta = s + 1 < n_steps && s > 0 ? el / (double)(s + 1) * (double)(n_steps - s - 1) : 0.0;
  if (progress_mode() == 2) {
    if (!last && now() - last_draw < 0.5) return;
    last_draw = now();
    int width = 30, done = (int)((double)width * (double)(s + 1) / (double)n_steps);
    printf("\repoch %lld/%ld [%.*s%*s] %zu/%zu loss %.4f acc %.3f %.0f img/s ETA %.0fs   %s", (long long)epoch + 1,
           t->net->hp.epochs, done, "##############################", width - done, "", s + 1, n_steps, loss, acc,
           rate, eta, last ? "\n" : "");
    fflush(stdout);
    return;
  }
  size_t every = n_steps / 10 > 0 ? n_steps / 10 : 1;
  if ((s + 1) % every == 0 || last) {
    printf("epoch %lld/%ld step %zu/%zu loss %.4f acc %.3f %.0f img/s ETA %.0fs\n", (long long)epoch + 1,
           t->net->hp.epochs, s + 1, n_steps, loss, acc, rate, eta);
    fflush(stdout);
  }
}

/* A rank bound to fewer cores than it has threads runs at a fraction of its speed (mpirun
 * binds each rank to one core by default when ranks <= 2). Say so once, on rank 0. */
static void warn_oversubscribed(const trainer *t) {
  cpu_set_t set;
  int cores = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : t->n_threads;
  int worst = cores < t->n_threads ? 1 : 0, any = 0;
  MPI_Allreduce(&worst, &any, 1, MPI_INT, MPI_MAX, t->comm);
  if (any && t->rank == 0)
    fprintf(stderr, "jetcnn: warning: a rank has %d OpenMP threads but may run on only %d core%s; bind each rank to "
            "OMP_NUM_THREADS cores (mpirun --map-by slot:PE=T, srun --cpus-per-task=T) or lower OMP_NUM_THREADS\n",
            t->n_threads, cores, cores == 1 ? "" : "s");
}

/* ---- set-up and the loop ---- */
static void trainer_free(trainer *t) {
  data_close(&t->train);
  data_close(&t->val);
  plan_free(&t->plan);
  free(t->params);
  free(t->rows);
  free(t->sum);
  free(t->x);
  free(t->x_next);
  for (int i = 0; t->ws && i < t->n_threads; i++) net_ws_free(&t->ws[i]);
  free(t->ws);
  optim_free(&t->opt);
  dist_reducer_free(&t->red);
}

static jc_code trainer_init(trainer *t, jc_err *err) {
  const jc_net *net = t->net;
  const jc_hparams *hp = &net->hp;
  JC_TRY(data_open(t->opts->train_path, hp->input, net->n_classes, t->comm, &t->train, err));
  if (t->opts->val_path) JC_TRY(data_open(t->opts->val_path, hp->input, net->n_classes, t->comm, &t->val, err));
  /* Shuffle window in whole chunks; the chunk cache holds one window. */
  size_t window = (size_t)hp->shuffle_window / t->train->chunk_rows;
  if (window < 1) window = 1;
  JC_TRY(data_set_cache(t->train, window, err));
  JC_TRY(plan_create(t->train->n, (size_t)hp->micro_batch, (size_t)hp->batch, t->train->chunk_rows, window, &t->plan,
                     err));
  t->max_local = (int)((t->plan->blocks_per_batch + (size_t)t->size - 1) / (size_t)t->size);
  t->row_len = net->n_params + N_STATS;
  t->n_threads = omp_get_max_threads();
  t->params = jc_malloc(net->n_params * sizeof(float) + 1, err);
  t->rows = jc_malloc((size_t)t->max_local * t->row_len * sizeof(float), err);
  t->sum = jc_malloc(t->row_len * sizeof(float), err);
  t->x = jc_malloc((size_t)t->max_local * (size_t)hp->micro_batch * shape_size(hp->input) * sizeof(float), err);
  t->ws = jc_calloc((size_t)t->n_threads, sizeof *t->ws, err);
  t->opt = optim_create(hp->optimizer, net->n_params, err);
  int level = MPI_THREAD_SINGLE;
  MPI_Query_thread(&level);
  t->prefetch = level >= MPI_THREAD_SERIALIZED;
  if (t->prefetch)
    t->x_next = jc_malloc((size_t)t->max_local * (size_t)hp->micro_batch * shape_size(hp->input) * sizeof(float), err);
  if (!t->params || !t->rows || !t->sum || !t->x || (t->prefetch && !t->x_next) || !t->ws || !t->opt)
    return JC_ERR_NOMEM;
  for (int i = 0; i < t->n_threads; i++)
    if (!(t->ws[i] = net_ws_create(net, (int)hp->micro_batch, err))) return JC_ERR_NOMEM;
  /* Segments: each kernel and bias, then each statistic, with its own fixed-point scale. */
  size_t *seg = jc_malloc(((size_t)net->n_layers * 2 + N_STATS + 1) * sizeof *seg, err);
  if (!seg) return JC_ERR_NOMEM;
  int n_seg = net_param_segments(net, seg);
  for (int k = 0; k < N_STATS; k++, n_seg++) seg[n_seg + 1] = net->n_params + (size_t)k + 1;
  t->red = dist_reducer_create(t->row_len, seg, n_seg, err);
  free(seg);
  return t->red ? JC_OK : JC_ERR_NOMEM;
}

/* Replicas must start identical: compare a hash of the weights across ranks. */
static jc_code check_replicas(const trainer *t, jc_err *err) {
  unsigned long long h = 1469598103934665603ULL, lo, hi;
  const unsigned char *b = (const unsigned char *)t->params;
  for (size_t i = 0; i < t->net->n_params * sizeof(float); i++) h = (h ^ b[i]) * 1099511628211ULL;
  MPI_Allreduce(&h, &lo, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, t->comm);
  MPI_Allreduce(&h, &hi, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, t->comm);
  if (lo != hi) return jc_fail(err, JC_ERR_RUNTIME, "initial weights differ between ranks (checksum mismatch)");
  return JC_OK;
}

/* Save a checkpoint of the current state; `at` says where in the run it is. */
static jc_code save(trainer *t, int64_t epoch, size_t epoch_step, const double sums[3], jc_err *err) {
  jc_progress at = {epoch, t->step, (int64_t)epoch_step, {sums[0], sums[1], sums[2]}, (int64_t)t->train->n,
                    t->metrics};
  jc_code rc = checkpoint_save_run(t->opts->out_dir, t->net->hp.keep_checkpoints, t->net, t->params, t->opt, &at,
                                   t->comm, err);
  if (rc != JC_OK) return jc_prefix(err, "epoch %lld, step %lld: ", (long long)epoch + 1, (long long)t->step);
  t->saved_step = t->step;
  return JC_OK;
}

static const char *signal_name(int sig) { return sig == SIGTERM ? "SIGTERM" : sig == SIGUSR1 ? "SIGUSR1" : "a signal"; }

jc_code train_run(jc_net *net, const jc_train_opts *opts, MPI_Comm comm, jc_err *err) {
  trainer t = {.net = net, .opts = opts, .comm = comm, .rank = dist_rank(comm), .size = dist_size(comm),
               .saved_step = -1};
  const jc_hparams *hp = &net->hp;
  FILE *metrics = NULL;
  jc_progress at = {0, 0, 0, {0, 0, 0}, 0, NULL};
  run_start how = RUN_NEW;
  jc_code rc = trainer_init(&t, err);
  rc = dist_agree(comm, rc, err);
  if (rc == JC_OK) {
    net_init_params(net, t.params, hp->seed);
    rc = open_run(&t, &at, &how, err);
  }
  if (rc == JC_OK && how == RUN_FINISHED) {
    if (t.rank == 0) printf("jetcnn train: %s holds a finished run (%lld epochs); nothing to do\n", opts->out_dir,
                            (long long)at.epoch);
    free(at.metrics);
    trainer_free(&t);
    return JC_OK;
  }
  if (rc == JC_OK) rc = check_replicas(&t, err);
  if (rc == JC_OK) {
    t.step = at.step;
    t.saved_step = how == RUN_RESUME ? at.step : -1;
    t.metrics = at.metrics ? at.metrics : strdup(METRICS_HEADER);
    at.metrics = NULL;
    if (!t.metrics) rc = jc_fail(err, JC_ERR_NOMEM, "out of memory");
    jc_code local = t.rank == 0 && rc == JC_OK ? prepare_run_dir(&t, err) : rc;
    if (local == JC_OK && t.rank == 0) local = open_metrics(&t, &metrics, err);
    rc = dist_agree(comm, local, err);
  }
  if (rc == JC_OK) warn_oversubscribed(&t);
  if (rc == JC_OK && t.rank == 0) {
    printf("jetcnn train: %zu jets (%zu steps of %ld per epoch), %ld epochs, %d rank%s x %d thread%s, %zu parameters\n",
           t.train->n, t.plan->n_steps, hp->batch, hp->epochs, t.size, t.size > 1 ? "s" : "", t.n_threads,
           t.n_threads > 1 ? "s" : "", net->n_params);
    if (how == RUN_RESUME)
      printf("resuming %s/checkpoint.h5: epoch %lld, step %lld of %zu (optimizer step %lld)%s\n", opts->out_dir,
             (long long)at.epoch + 1, (long long)at.epoch_step, t.plan->n_steps, (long long)at.step,
             opts->init_path ? "; --init ignored" : "");
    fflush(stdout);
  }
  t.t_start = now();
  for (int64_t epoch = at.epoch; rc == JC_OK && epoch < hp->epochs; epoch++) {
    plan_epoch(t.plan, hp->seed, epoch, hp->shuffle);
    t.t_read = t.t_compute = t.t_reduce = t.t_update = 0.0;
    const int resumed = how == RUN_RESUME && epoch == at.epoch;
    const size_t first_step = resumed ? (size_t)at.epoch_step : 0;
    /* Training loss, correct predictions and samples of the epoch (carried over a resume). */
    double sums[3] = {0, 0, 0}, t0 = now(), timed = 0.0;
    if (resumed) memcpy(sums, at.epoch_sums, sizeof sums);
    for (size_t s = first_step; rc == JC_OK && s < t.plan->n_steps; s++) {
      rc = train_step(&t, s, epoch, err);
      if (rc != JC_OK) break;
      sums[0] += t.sum[net->n_params + STAT_LOSS];
      sums[1] += t.sum[net->n_params + STAT_CORRECT];
      sums[2] += t.sum[net->n_params + STAT_SAMPLES];
      timed += t.sum[net->n_params + STAT_SAMPLES];
      progress(&t, epoch, s, sums[0] / sums[2], sums[1] / sums[2], t0, (size_t)timed);
      if (s + 1 == t.plan->n_steps) break; /* the epoch end checkpoints */
      if (t.stop || (hp->checkpoint_every > 0 && t.step % hp->checkpoint_every == 0))
        rc = save(&t, epoch, s + 1, sums, err);
      if (rc == JC_OK && t.stop)
        rc = jc_fail(err, JC_EXIT_REQUEUE, "stopped by %s: checkpointed at epoch %lld, step %zu of %zu (optimizer "
                     "step %lld); run the same command again to resume", signal_name(t.stop), (long long)epoch + 1,
                     s + 1, t.plan->n_steps, (long long)t.step);
    }
    if (rc != JC_OK) break;
    double seconds = now() - t0;
    jc_steptime ranks; /* which rank computes slowest, which waits longest (steptime.h) */
    rc = steptime_gather(comm, t.t_read + t.t_compute, t.t_reduce, &ranks, err);
    if (rc != JC_OK) break;
    val_stats vs = {NAN, NAN, NAN, NAN};
    if (t.val) rc = validate(&t, &vs, err);
    if (rc != JC_OK) break;
    /* The row joins the log saved in the checkpoint, and reaches metrics.csv after it. */
    char row[1024];
    double lr = optim_lr(hp, t.step > 0 ? t.step - 1 : 0, (int64_t)t.plan->n_steps);
    int len = snprintf(row, sizeof row, "%lld,%lld,%.6g,%.6f,%.6f,", (long long)epoch + 1, (long long)t.step, lr,
                       sums[0] / sums[2], sums[1] / sums[2]);
    if (t.val) len += snprintf(row + len, sizeof row - (size_t)len, "%.6f,%.6f,%.6f,%.4f,", vs.loss, vs.acc, vs.auc, vs.rej30);
    else len += snprintf(row + len, sizeof row - (size_t)len, ",,,,");
    len += snprintf(row + len, sizeof row - (size_t)len, "%.1f,%.3f,", timed / seconds, seconds);
    len += steptime_csv(&ranks, row + len, sizeof row - (size_t)len);
    snprintf(row + len, sizeof row - (size_t)len, "\n");
    rc = metrics_append(&t, row, err);
    const double none[3] = {0, 0, 0};
    if (rc == JC_OK) rc = save(&t, epoch + 1, 0, none, err);
    if (rc != JC_OK) break;
    if (t.rank == 0) {
      fputs(row, metrics);
      fflush(metrics);
      printf("epoch %lld/%ld: train loss %.4f acc %.4f", (long long)epoch + 1, hp->epochs, sums[0] / sums[2],
             sums[1] / sums[2]);
      if (t.val) printf(" | val loss %.4f acc %.4f AUC %.4f 1/eps_B(0.3) %.1f", vs.loss, vs.acc, vs.auc, vs.rej30);
      printf(" | %.0f img/s, %.1f s\n", timed / seconds, seconds);
      if (opts->profile) {
        double total = t.t_read + t.t_compute + t.t_reduce + t.t_update;
        printf("  profile (rank 0, this epoch): read %.1f%%  forward+backward %.1f%%  allreduce (incl. waiting for "
               "other ranks) %.1f%%  optimizer %.1f%%  of %.2f s in steps\n",
               100 * t.t_read / total, 100 * t.t_compute / total, 100 * t.t_reduce / total, 100 * t.t_update / total,
               total);
        char line[512];
        steptime_format(&ranks, line, sizeof line);
        printf("%s\n", line);
      }
      fflush(stdout);
    }
    if (t.stop && epoch + 1 < hp->epochs)
      rc = jc_fail(err, JC_EXIT_REQUEUE, "stopped by %s: checkpointed at the end of epoch %lld (optimizer step %lld); "
                   "run the same command again to resume", signal_name(t.stop), (long long)epoch + 1, (long long)t.step);
  }
  if (rc == JC_OK && t.rank == 0)
    printf("done in %.1f s; checkpoint %s/checkpoint.h5, metrics %s/metrics.csv\n", now() - t.t_start, opts->out_dir,
           opts->out_dir);
  if (metrics) fclose(metrics);
  free(t.metrics);
  free(at.metrics);
  trainer_free(&t);
  return rc;
}
