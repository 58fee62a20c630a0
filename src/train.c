/* train.c - the training loop: one step reads top to bottom in train_step(); an epoch is its
 * steps, a validation and a checkpoint (train_epoch()). The run directory is rundir.c's, the
 * input of each step prefetch.c's, validation evaluate.c's. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "jetcnn/train.h"

#include <math.h>
#include <omp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jetcnn/dist.h"
#include "jetcnn/evaluate.h"
#include "jetcnn/loss.h"
#include "jetcnn/optim.h"
#include "jetcnn/rundir.h"
#include "jetcnn/steptime.h"

/* Statistics carried at the end of every gradient row, reduced with the gradients. */
enum { STAT_LOSS, STAT_CORRECT, STAT_SAMPLES, N_STATS };

typedef struct {
  jc_net *net;
  const jc_train_opts *opts;
  MPI_Comm comm;
  int rank, size, n_threads;
  jc_data *train, *val;
  jc_plan *plan;
  jc_prefetch *input; /* this rank's blocks of each step; reads step s+1 during step s */
  jc_rundir *run;     /* the run directory: how the run started, checkpoints, metrics.csv */
  float *params;      /* n_params */
  float *state;       /* n_state: the net's non-trainable state (batch norm's running statistics) */
  jc_net *inet;       /* the inference net (batch norm folded) that validates, and its parameters */
  float *iparams;
  size_t row_len;     /* n_params + N_STATS + blocks per step * n_batch_stats */
  size_t stats_at;    /* n_params + N_STATS: micro-batch k of a step writes its batch statistics at
                       * stats_at + k * n_batch_stats (zeros elsewhere), so that the sum holds
                       * each one's in its own slot */
  float *rows;        /* plan_max_share() rows: per-micro-batch gradients + statistics */
  float *sum;         /* row_len: the global sum of all rows */
  jc_net_ws **ws;     /* one per thread */
  jc_optim *opt;
  jc_reducer *red;
  int64_t step;       /* optimizer steps taken */
  int stop;           /* a stop signal reached some rank: agreed in the last step's reduction */
  double t_read, t_compute, t_reduce, t_update; /* seconds spent in each part of this epoch's steps */
} trainer;

static double now(void) { return MPI_Wtime(); }

/* Hand an event to the caller's report function (rank 0 only). */
static void report(const trainer *t, jc_train_event ev) {
  if (t->rank != 0 || !t->opts->report) return;
  ev.dir = t->opts->out_dir;
  ev.epochs = t->net->hp.epochs;
  ev.steps_per_epoch = t->plan->n_steps;
  t->opts->report(&ev, t->opts->report_arg);
}

/* Name of reduced segment s (a kernel and a bias per layer with weights, the statistics, then
 * the micro-batches' batch statistics), for error messages: "the gradient of layer03 (conv)
 * kernel". */
static void segment_name(const trainer *t, int s, char *buf, size_t n) {
  int weighted = 0;
  for (int i = 0; i < t->net->n_layers; i++) {
    const jc_layer *l = &t->net->layers[i];
    if (l->n_kernel > 0 && weighted++ == s / 2) {
      const char *part = s % 2 ? (l->ops->bias_name ? l->ops->bias_name : "bias")
                               : (l->ops->kernel_name ? l->ops->kernel_name : "kernel");
      snprintf(buf, n, "the gradient of layer%02d (%s) %s", l->index, l->ops->section, part);
      return;
    }
  }
  snprintf(buf, n, s < 2 * weighted + N_STATS ? "the loss" : "a micro-batch's batch norm statistics");
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
    for (int k = 0; k < mine.n_local; k++) {
      size_t start, len;
      plan_block(p, mine.blocks[k], &start, &len);
      jc_net_ws *w = t->ws[omp_get_thread_num()];
      float *row = t->rows + (size_t)k * t->row_len;
      float *x = input + (size_t)k * micro * per;
      jc_ctx ctx = {.training = 1, .seed = net->hp.seed, .step = (uint64_t)t->step, .first_sample = start,
                    .batch_stats = row + t->stats_at + (mine.first_slot + (size_t)k) * net->n_batch_stats};
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
  rc = dist_sum_exact(t->comm, t->red, t->rows, mine.n_local, (long)mine.n_global, t->sum, rc, &bad, err);
  t->stop = t->red->flag;
  double t3 = now();
  t->t_reduce += t3 - t2;
  if (rc != JC_OK && bad >= 0) {
    char what[96], kept[64] = "no checkpoint written yet";
    segment_name(t, bad, what, sizeof what);
    if (t->run->saved_step >= 0)
      snprintf(kept, sizeof kept, "the checkpoint of step %lld is kept", (long long)t->run->saved_step);
    return jc_fail(err, JC_ERR_RUNTIME, "epoch %lld, step %lld: %s is not finite (NaN or Inf); %s; lower "
                   "learning_rate or check the input", (long long)epoch + 1, (long long)t->step + 1, what, kept);
  }
  JC_TRY(rc);

  /* 4. Update the running statistics, one micro-batch after the other in the step's global
   * order, and the weights (identically on every rank). */
  if (net->n_state) {
    size_t first, count;
    plan_step(p, s, &first, &count);
    for (size_t k = 0; k < count; k++) {
      size_t start, len;
      plan_block(p, p->order[first + k], &start, &len);
      net_update_state(net, t->state, t->sum + t->stats_at + k * net->n_batch_stats, (int)len);
    }
  }
  optim_step(t->opt, &net->hp, t->params, t->sum, optim_lr(&net->hp, t->step, (int64_t)p->n_steps));
  t->step++;
  t->t_update += now() - t3;
  return JC_OK;
}

/* ---- one epoch: its steps, validation, the metrics row and the checkpoint ---- */
static jc_code stopped(const trainer *t, int64_t epoch, size_t steps_done, jc_err *err) {
  const char *sig = t->stop == SIGTERM ? "SIGTERM" : t->stop == SIGUSR1 ? "SIGUSR1" : "a signal";
  char at[96];
  if (steps_done == t->plan->n_steps) snprintf(at, sizeof at, "the end of epoch %lld", (long long)epoch + 1);
  else snprintf(at, sizeof at, "epoch %lld, step %zu of %zu", (long long)epoch + 1, steps_done, t->plan->n_steps);
  return jc_fail(err, JC_EXIT_REQUEUE, "stopped by %s: checkpointed at %s (optimizer step %lld); run the same command "
                 "again to resume", sig, at, (long long)t->step);
}

/* sums: training loss, correct predictions and samples of the epoch; `timed` samples were
 * trained in `seconds` (a resumed epoch times only its own steps). */
static jc_code end_epoch(trainer *t, int64_t epoch, const double sums[3], double timed, double seconds, jc_err *err) {
  const jc_hparams *hp = &t->net->hp;
  jc_epoch_stats st = {epoch + 1, t->step, optim_lr(hp, t->step > 0 ? t->step - 1 : 0, (int64_t)t->plan->n_steps),
                       sums[0] / sums[2], sums[1] / sums[2], t->val != NULL, {NAN, NAN, NAN, NAN}, timed / seconds,
                       seconds, {0, 0, 0, 0, 0, 0, "", ""}};
  JC_TRY(steptime_gather(t->comm, t->t_read + t->t_compute, t->t_reduce, &st.ranks, err));
  if (t->val) {
    net_fold_params(t->net, t->params, t->state, t->inet, t->iparams);
    JC_TRY(eval_validate(t->inet, t->iparams, t->val, t->comm, &st.val, err));
  }
  JC_TRY(rundir_end_epoch(t->run, &st, err));
  report(t, (jc_train_event){.kind = TRAIN_EV_EPOCH,
                             .epoch = {&st, t->t_read, t->t_compute, t->t_reduce, t->t_update}});
  return t->stop && epoch + 1 < hp->epochs ? stopped(t, epoch, t->plan->n_steps, err) : JC_OK;
}

static jc_code train_epoch(trainer *t, int64_t epoch, jc_err *err) {
  const jc_hparams *hp = &t->net->hp;
  const jc_progress *at = &t->run->at;
  const size_t n_steps = t->plan->n_steps, stats = t->net->n_params;
  const int resumed = t->run->how == RUN_RESUME && epoch == at->epoch;
  plan_epoch(t->plan, hp->seed, epoch, hp->shuffle);
  t->t_read = t->t_compute = t->t_reduce = t->t_update = 0.0;
  double sums[N_STATS] = {0, 0, 0}, t0 = now(), timed = 0.0; /* loss, correct predictions, samples */
  if (resumed) memcpy(sums, at->epoch_sums, sizeof sums); /* the steps before the checkpoint */
  for (size_t s = resumed ? (size_t)at->epoch_step : 0; s < n_steps; s++) {
    JC_TRY(train_step(t, s, epoch, err));
    for (int k = 0; k < N_STATS; k++) sums[k] += t->sum[stats + k];
    timed += t->sum[stats + STAT_SAMPLES];
    report(t, (jc_train_event){.kind = TRAIN_EV_STEP, .step = {epoch + 1, s + 1, sums[0] / sums[2], sums[1] / sums[2],
                                                               now() - t0, (size_t)timed}});
    if (s + 1 == n_steps) break; /* the epoch end checkpoints */
    if (t->stop || (hp->checkpoint_every > 0 && t->step % hp->checkpoint_every == 0))
      JC_TRY(rundir_checkpoint(t->run, epoch, t->step, (int64_t)s + 1, sums, err));
    if (t->stop) return stopped(t, epoch, s + 1, err);
  }
  return end_epoch(t, epoch, sums, timed, now() - t0, err);
}

/* ---- set-up ---- */
/* The one place where the input files are opened and checked: training and validation
 * jets, the training file's plan and the reader of its steps. */
static jc_code open_inputs(trainer *t, jc_err *err) {
  const jc_hparams *hp = &t->net->hp;
  const int K = t->net->n_classes;
  JC_TRY(dist_agree(t->comm, data_open(t->opts->train_path, hp->input, K, t->comm, &t->train, err), err));
  if (t->opts->val_path)
    JC_TRY(dist_agree(t->comm, data_open(t->opts->val_path, hp->input, K, t->comm, &t->val, err), err));
  JC_TRY(data_plan(t->train, (size_t)hp->micro_batch, (size_t)hp->batch, (size_t)hp->shuffle_window, &t->plan, err));
  return prefetch_create(t->train, t->plan, t->rank, t->size, &t->input, err);
}

/* Inputs, weights, gradient rows, workspaces, optimizer and reducer (local; agreed by the caller). */
static jc_code trainer_init(trainer *t, jc_err *err) {
  const jc_net *net = t->net;
  const jc_hparams *hp = &net->hp;
  JC_TRY(open_inputs(t, err));
  t->stats_at = net->n_params + N_STATS;
  t->row_len = t->stats_at + t->plan->blocks_per_batch * net->n_batch_stats;
  t->n_threads = omp_get_max_threads();
  t->params = jc_malloc(net->n_params * sizeof(float) + 1, err);
  t->state = jc_malloc(net->n_state * sizeof(float) + 1, err);
  JC_TRY(net_create_inference(net, &t->inet, err));
  t->iparams = jc_malloc(t->inet->n_params * sizeof(float) + 1, err);
  t->rows = jc_malloc(plan_max_share(t->plan, t->size) * t->row_len * sizeof(float), err);
  t->sum = jc_malloc(t->row_len * sizeof(float), err);
  t->ws = jc_calloc((size_t)t->n_threads, sizeof *t->ws, err);
  t->opt = optim_create(hp->optimizer, net->n_params, err);
  if (!t->params || !t->state || !t->iparams || !t->rows || !t->sum || !t->ws || !t->opt) return JC_ERR_NOMEM;
  for (int i = 0; i < t->n_threads; i++)
    if (!(t->ws[i] = net_ws_create(net, (int)hp->micro_batch, err))) return JC_ERR_NOMEM;
  /* Segments: each kernel and bias, then each statistic, then each micro-batch slot's batch
   * statistics in parts of like magnitude, with its own fixed-point scale. */
  const size_t slots = net->n_batch_stats ? t->plan->blocks_per_batch : 0;
  size_t *seg = jc_malloc(((size_t)net->n_layers * 2 * (1 + slots) + N_STATS + 1) * sizeof *seg, err);
  if (!seg) return JC_ERR_NOMEM;
  int n_seg = net_param_segments(net, seg);
  for (int k = 0; k < N_STATS; k++, n_seg++) seg[n_seg + 1] = net->n_params + (size_t)k + 1;
  for (size_t slot = 0; slot < slots; slot++)
    n_seg += net_stats_segments(net, t->stats_at + slot * net->n_batch_stats, seg + n_seg + 1);
  t->red = dist_reducer_create(t->row_len, seg, n_seg, err);
  free(seg);
  return t->red ? JC_OK : JC_ERR_NOMEM;
}

static void trainer_free(trainer *t) {
  rundir_close(&t->run);
  prefetch_free(&t->input);
  data_close(&t->train);
  data_close(&t->val);
  plan_free(&t->plan);
  free(t->params);
  free(t->state);
  free(t->iparams);
  net_free(&t->inet);
  free(t->rows);
  free(t->sum);
  for (int i = 0; t->ws && i < t->n_threads; i++) net_ws_free(&t->ws[i]);
  free(t->ws);
  optim_free(&t->opt);
  dist_reducer_free(&t->red);
}

/* Before the first step the ranks compare notes in one reduction. Their weights must be
 * identical: a hash, the same on every rank when the minima of it and of its complement
 * agree. A rank bound to fewer cores than it has threads (mpirun binds each rank to one
 * core by default when ranks <= 2) runs at a fraction of its speed: a warning. */
static jc_code check_ranks(const trainer *t, jc_err *err) {
  unsigned long long h = 1469598103934665603ULL, min[3];
  const unsigned char *b = (const unsigned char *)t->params;
  for (size_t i = 0; i < t->net->n_params * sizeof(float); i++) h = (h ^ b[i]) * 1099511628211ULL;
  cpu_set_t set;
  int cores = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : t->n_threads;
  unsigned long long mine[3] = {h, ~h, cores < t->n_threads ? 0 : 1};
  jc_code rc = MPI_Allreduce(mine, min, 3, MPI_UNSIGNED_LONG_LONG, MPI_MIN, t->comm) == MPI_SUCCESS ? JC_OK
               : jc_fail(err, JC_ERR_RUNTIME, "MPI_Allreduce of the weight checksums and core counts failed");
  JC_TRY(dist_agree(t->comm, rc, err));
  if (min[0] != ~min[1]) return jc_fail(err, JC_ERR_RUNTIME, "initial weights differ between ranks (checksum mismatch)");
  char text[320];
  snprintf(text, sizeof text, "a rank has %d OpenMP threads but may run on only %d core%s; bind each rank to "
           "OMP_NUM_THREADS cores (mpirun --map-by slot:PE=T, srun --cpus-per-task=T) or lower OMP_NUM_THREADS",
           t->n_threads, cores, cores == 1 ? "" : "s");
  if (min[2] == 0) report(t, (jc_train_event){.kind = TRAIN_EV_WARNING, .warning = text});
  return JC_OK;
}

/* ---- the run ---- */
jc_code train_run(jc_net *net, const jc_train_opts *opts, MPI_Comm comm, jc_err *err) {
  trainer t = {.net = net, .opts = opts, .comm = comm, .rank = dist_rank(comm), .size = dist_size(comm)};
  jc_code rc = dist_agree(comm, trainer_init(&t, err), err);
  if (rc == JC_OK) {
    net_init_params(net, t.params, net->hp.seed); /* a resumed run or --init replaces them */
    net_init_state(net, t.state);
    jc_run_request req = {opts->out_dir, opts->init_path, opts->force,  opts->resume,
                          opts->train_path, t.train->n,  t.plan->n_steps};
    rc = rundir_open(&req, net, t.params, t.state, t.opt, comm, &t.run, err);
  }
  const int finished = rc == JC_OK && t.run->how == RUN_FINISHED;
  if (finished) report(&t, (jc_train_event){.kind = TRAIN_EV_FINISHED, .finished_epochs = t.run->at.epoch});
  else if (rc == JC_OK) rc = check_ranks(&t, err);
  if (rc == JC_OK && !finished) {
    const jc_progress *at = &t.run->at;
    t.step = at->step;
    report(&t, (jc_train_event){.kind = TRAIN_EV_START,
                                .start = {t.train->n, net->n_params, net->hp.batch, t.size, t.n_threads}});
    if (t.run->how == RUN_RESUME)
      report(&t, (jc_train_event){.kind = TRAIN_EV_RESUME,
                                  .resume = {at->epoch + 1, at->epoch_step, at->step, opts->init_path != NULL}});
    const double t_start = now();
    for (int64_t epoch = at->epoch; rc == JC_OK && epoch < net->hp.epochs; epoch++) rc = train_epoch(&t, epoch, err);
    if (rc == JC_OK) report(&t, (jc_train_event){.kind = TRAIN_EV_DONE, .done_seconds = now() - t_start});
  }
  trainer_free(&t);
  return rc;
}
