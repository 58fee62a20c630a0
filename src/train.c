/* train.c - the training loop: one step reads top to bottom in train_step(). */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "jetcnn/train.h"

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jetcnn/dist.h"
#include "jetcnn/evaluate.h"
#include "jetcnn/loss.h"
#include "jetcnn/optim.h"
#include "jetcnn/rundir.h"

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
  jc_prefetch *input; /* this rank's blocks of each step; reads step s+1 during step s */
  int n_threads;
  jc_net_ws **ws;     /* one per thread */
  jc_optim *opt;
  jc_reducer *red;
  int64_t step;       /* optimizer steps taken */
  int stop;           /* a stop signal reached some rank: agreed in the last step's reduction */
  jc_rundir *run;     /* the run directory: how the run started, checkpoints, metrics.csv */
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

/* ---- one training step ---- */
double train_micro(const jc_net *net, const float *params, jc_net_ws *ws, const float *x, const int32_t *labels,
                   int n, float scale, jc_ctx ctx, float *grads, int *hits) {
  const float *logits = net_forward(net, params, ws, x, n, ctx);
  double loss = loss_forward_backward(net->head, logits, labels, n, net->n_logits, scale, ws->dlogits, hits);
  net_backward(net, params, ws, x, ws->dlogits, grads, n, ctx);
  return loss;
}

static jc_code train_step(trainer *t, size_t s, int64_t epoch, jc_err *err) {
  const jc_net *net = t->net;
  const jc_plan *p = t->plan;
  const size_t per = shape_size(net->hp.input), micro = p->micro;
  const jc_step_share mine = plan_rank_step(p, s, t->rank, t->size);
  const int n_local = mine.n_local;
  const float scale = 1.0f / (float)mine.batch_jets; /* the gradient is the mean over the global batch */

  /* 1. This rank's blocks (read in the background during the last step, or now), then
   * start reading the next step's. A failed read is agreed on in the sum below. */
  double t0 = now();
  float *input;
  jc_code rc = prefetch_take(t->input, s, &input, err);
  if (rc == JC_OK && s + 1 < p->n_steps) prefetch_start(t->input, s + 1);

  /* 2. Forward, loss and backward of each micro-batch into its own row, one per thread. */
  double t1 = now();
  t->t_read += t1 - t0;
  if (rc == JC_OK) {
#pragma omp parallel for schedule(dynamic, 1)
    for (int k = 0; k < n_local; k++) {
      size_t start, len;
      plan_block(p, mine.blocks[k], &start, &len);
      jc_net_ws *w = t->ws[omp_get_thread_num()];
      float *row = t->rows + (size_t)k * t->row_len;
      float *x = input + (size_t)k * micro * per;
      jc_ctx ctx = {.training = 1, .seed = net->hp.seed, .step = (uint64_t)t->step, .first_sample = start};
      net_normalize_input(net, x, (int)len);
      memset(row, 0, t->row_len * sizeof *row);
      int hits = 0;
      double loss = train_micro(net, t->params, w, x, t->train->labels + start, (int)len, scale, ctx, row, &hits);
      row[net->n_params + STAT_LOSS] = (float)loss;
      row[net->n_params + STAT_CORRECT] = (float)hits;
      row[net->n_params + STAT_SAMPLES] = (float)len;
    }
  }

  /* 3. Exact sum over all micro-batches of all ranks (also agrees on failures). The
   * background read ends first: only one thread may be inside MPI. */
  double t2 = now();
  t->t_compute += t2 - t1;
  prefetch_settle(t->input);
  t->t_read += now() - t2;
  t2 = now();
  int bad = -1;
  t->red->flag = t->opts->stop ? (int)*t->opts->stop : 0; /* a signal on any rank stops all after this step */
  rc = dist_sum_exact(t->comm, t->red, t->rows, n_local, (long)mine.n_global, t->sum, rc, &bad, err);
  t->stop = t->red->flag;
  double t3 = now();
  t->t_reduce += t3 - t2;
  if (rc != JC_OK) {
    if (bad >= 0) {
      char what[96], kept[64] = "no checkpoint written yet";
      segment_name(t, bad, what, sizeof what);
      if (t->run->saved_step >= 0)
        snprintf(kept, sizeof kept, "the checkpoint of step %lld is kept", (long long)t->run->saved_step);
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
  rundir_close(&t->run);
  prefetch_free(&t->input);
  data_close(&t->train);
  data_close(&t->val);
  plan_free(&t->plan);
  free(t->params);
  free(t->rows);
  free(t->sum);
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
  JC_TRY(prefetch_create(t->train, t->plan, t->rank, t->size, &t->input, err));
  t->max_local = (int)plan_max_share(t->plan, t->size);
  t->row_len = net->n_params + N_STATS;
  t->n_threads = omp_get_max_threads();
  t->params = jc_malloc(net->n_params * sizeof(float) + 1, err);
  t->rows = jc_malloc((size_t)t->max_local * t->row_len * sizeof(float), err);
  t->sum = jc_malloc(t->row_len * sizeof(float), err);
  t->ws = jc_calloc((size_t)t->n_threads, sizeof *t->ws, err);
  t->opt = optim_create(hp->optimizer, net->n_params, err);
  if (!t->params || !t->rows || !t->sum || !t->ws || !t->opt)
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

static const char *signal_name(int sig) { return sig == SIGTERM ? "SIGTERM" : sig == SIGUSR1 ? "SIGUSR1" : "a signal"; }

jc_code train_run(jc_net *net, const jc_train_opts *opts, MPI_Comm comm, jc_err *err) {
  trainer t = {.net = net, .opts = opts, .comm = comm, .rank = dist_rank(comm), .size = dist_size(comm)};
  const jc_hparams *hp = &net->hp;
  jc_code rc = trainer_init(&t, err);
  rc = dist_agree(comm, rc, err);
  if (rc == JC_OK) {
    net_init_params(net, t.params, hp->seed);
    jc_run_request req = {opts->out_dir, opts->init_path, opts->force, opts->resume, opts->train_path, t.train->n,
                          t.plan->n_steps};
    rc = rundir_open(&req, net, t.params, t.opt, comm, &t.run, err);
  }
  if (rc == JC_OK && t.run->how == RUN_FINISHED) {
    if (t.rank == 0) printf("jetcnn train: %s holds a finished run (%lld epochs); nothing to do\n", opts->out_dir,
                            (long long)t.run->at.epoch);
    trainer_free(&t);
    return JC_OK;
  }
  if (rc == JC_OK) rc = check_replicas(&t, err);
  if (rc == JC_OK) t.step = t.run->at.step;
  if (rc == JC_OK) warn_oversubscribed(&t);
  const jc_progress at = rc == JC_OK ? t.run->at : (jc_progress){0};
  const int resuming = rc == JC_OK && t.run->how == RUN_RESUME;
  if (rc == JC_OK && t.rank == 0) {
    printf("jetcnn train: %zu jets (%zu steps of %ld per epoch), %ld epochs, %d rank%s x %d thread%s, %zu parameters\n",
           t.train->n, t.plan->n_steps, hp->batch, hp->epochs, t.size, t.size > 1 ? "s" : "", t.n_threads,
           t.n_threads > 1 ? "s" : "", net->n_params);
    if (resuming)
      printf("resuming %s/checkpoint.h5: epoch %lld, step %lld of %zu (optimizer step %lld)%s\n", opts->out_dir,
             (long long)at.epoch + 1, (long long)at.epoch_step, t.plan->n_steps, (long long)at.step,
             opts->init_path ? "; --init ignored" : "");
    fflush(stdout);
  }
  t.t_start = now();
  for (int64_t epoch = at.epoch; rc == JC_OK && epoch < hp->epochs; epoch++) {
    plan_epoch(t.plan, hp->seed, epoch, hp->shuffle);
    t.t_read = t.t_compute = t.t_reduce = t.t_update = 0.0;
    const int resumed = resuming && epoch == at.epoch;
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
        rc = rundir_checkpoint(t.run, epoch, t.step, (int64_t)s + 1, sums, err);
      if (rc == JC_OK && t.stop)
        rc = jc_fail(err, JC_EXIT_REQUEUE, "stopped by %s: checkpointed at epoch %lld, step %zu of %zu (optimizer "
                     "step %lld); run the same command again to resume", signal_name(t.stop), (long long)epoch + 1,
                     s + 1, t.plan->n_steps, (long long)t.step);
    }
    if (rc != JC_OK) break;
    double seconds = now() - t0;
    jc_epoch_stats st = {epoch + 1, t.step, optim_lr(hp, t.step > 0 ? t.step - 1 : 0, (int64_t)t.plan->n_steps),
                         sums[0] / sums[2], sums[1] / sums[2], t.val != NULL, {NAN, NAN, NAN, NAN},
                         timed / seconds, seconds};
    if (t.val) rc = eval_validate(net, t.params, t.val, comm, &st.val, err);
    if (rc == JC_OK) rc = rundir_end_epoch(t.run, &st, err);
    if (rc != JC_OK) break;
    if (t.rank == 0) {
      printf("epoch %lld/%ld: train loss %.4f acc %.4f", (long long)epoch + 1, hp->epochs, st.train_loss, st.train_acc);
      if (t.val) printf(" | val loss %.4f acc %.4f AUC %.4f 1/eps_B(0.3) %.1f", st.val.loss, st.val.acc, st.val.auc,
                        st.val.rej30);
      printf(" | %.0f img/s, %.1f s\n", st.img_per_s, seconds);
      if (opts->profile) {
        double total = t.t_read + t.t_compute + t.t_reduce + t.t_update;
        printf("  profile (rank 0, this epoch): read %.1f%%  forward+backward %.1f%%  allreduce (incl. waiting for "
               "other ranks) %.1f%%  optimizer %.1f%%  of %.2f s in steps\n",
               100 * t.t_read / total, 100 * t.t_compute / total, 100 * t.t_reduce / total, 100 * t.t_update / total,
               total);
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
  trainer_free(&t);
  return rc;
}
