/* jc_bench.c - time jetcnn's training step and inference on jets held in memory.
 *
 * usage: jc_bench CONFIG [--batch N] [--micro N] [--steps N] [--warmup N] [--input FILE]
 *                        [--labels FILE] [--mode train|infer|both] [--profile]
 *
 * A training step is exactly the compute of train_step() in src/train.c: one micro-batch per
 * OpenMP thread through train_micro() into its own gradient row, dist_sum_exact() over
 * the rows (MPI_COMM_SELF), optim_step(). Inference is eval_range()'s loop: net_forward()
 * and loss_probabilities() per micro-batch. Inputs are a raw float32 file of batch jets
 * (N,C,H,W) and a raw int32 label file, or uniform random numbers when not given, so file
 * I/O is not timed. Prints one JSON object: img/s, FLOP counts, peak RSS and, with
 * --profile, seconds per step of each layer's forward and backward (summed over threads),
 * of the reduction and of the optimizer.
 */
#include <mpi.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "jetcnn/dist.h"
#include "jetcnn/loss.h"
#include "jetcnn/net.h"
#include "jetcnn/optim.h"
#include "jetcnn/rng.h"
#include "jetcnn/train.h"

enum { STAT_LOSS, STAT_CORRECT, STAT_SAMPLES, N_STATS };

typedef struct {
  const char *config, *input, *labels, *mode;
  long batch, micro, steps, warmup;
  int profile;
} bench_opts;

static int parse_long(const char *s, long lo, long *out) {
  char *end = NULL;
  long v = strtol(s, &end, 10);
  if (end == s || *end || v < lo) return -1;
  *out = v;
  return 0;
}

static int parse_args(int argc, char **argv, bench_opts *o) {
  *o = (bench_opts){.mode = "both", .steps = 20, .warmup = 3};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int bad = 0;
    if (strcmp(a, "--profile") == 0) o->profile = 1;
    else if (!v && a[0] == '-') bad = 1;
    else if (strcmp(a, "--batch") == 0) bad = parse_long(argv[++i], 1, &o->batch);
    else if (strcmp(a, "--micro") == 0) bad = parse_long(argv[++i], 1, &o->micro);
    else if (strcmp(a, "--steps") == 0) bad = parse_long(argv[++i], 1, &o->steps);
    else if (strcmp(a, "--warmup") == 0) bad = parse_long(argv[++i], 0, &o->warmup);
    else if (strcmp(a, "--input") == 0) o->input = argv[++i];
    else if (strcmp(a, "--labels") == 0) o->labels = argv[++i];
    else if (strcmp(a, "--mode") == 0) o->mode = argv[++i];
    else if (a[0] != '-' && !o->config) o->config = a;
    else bad = 1;
    if (bad) {
      fprintf(stderr, "jc_bench: bad argument '%s'\n", a);
      return -1;
    }
  }
  if (!o->config) fprintf(stderr, "usage: jc_bench CONFIG [--batch N] [--micro N] [--steps N] [--warmup N] "
                                  "[--input F32FILE] [--labels I32FILE] [--mode train|infer|both] [--profile]\n");
  return o->config ? 0 : -1;
}

static int read_raw(const char *path, void *buf, size_t bytes) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  size_t got = fread(buf, 1, bytes, f);
  int extra = fgetc(f) != EOF;
  fclose(f);
  return got == bytes && !extra ? 0 : -1;
}

/* Forward FLOPs per sample, and training FLOPs: forward, plus dW and dX (not for the first
 * layer) of layers with parameters, each as many as their forward. */
static void count_flops(const jc_net *net, double *fwd, double *train) {
  *fwd = *train = 0.0;
  for (int i = 0; i < net->n_layers; i++) {
    const jc_layer *l = &net->layers[i];
    *fwd += l->flops;
    *train += l->flops;
    if (l->n_kernel) *train += l->flops * (i > 0 ? 2.0 : 1.0);
  }
}

int main(int argc, char **argv) {
  bench_opts o;
  if (parse_args(argc, argv, &o) != 0) return 2;
  MPI_Init(&argc, &argv);
  jc_err err;
  jc_err_clear(&err);
  jc_config *cfg = NULL;
  jc_net *net = NULL;
  char set[64];
  jc_code rc = config_load(o.config, &cfg, &err);
  if (rc == JC_OK && o.batch) {
    snprintf(set, sizeof set, "batch=%ld", o.batch);
    rc = config_set_net(cfg, set, &err);
  }
  if (rc == JC_OK && o.micro) {
    snprintf(set, sizeof set, "micro_batch=%ld", o.micro);
    rc = config_set_net(cfg, set, &err);
  }
  if (rc == JC_OK) rc = net_create(cfg, &net, &err);
  else config_free(&cfg);
  if (rc != JC_OK) {
    fprintf(stderr, "jc_bench: %s\n", err.msg);
    MPI_Finalize();
    return rc;
  }
  const jc_hparams *hp = &net->hp;
  const int batch = (int)hp->batch, micro = (int)hp->micro_batch, n_micro = batch / micro;
  const int n_threads = omp_get_max_threads(), L = net->n_layers;
  /* Rows as in train.c: gradients, statistics, then each micro-batch's batch statistics slot. */
  const size_t per = shape_size(hp->input), stats_at = net->n_params + N_STATS;
  const size_t row_len = stats_at + (size_t)n_micro * net->n_batch_stats;
  float *x = malloc((size_t)batch * per * sizeof *x);
  int32_t *labels = malloc((size_t)batch * sizeof *labels);
  float *params = malloc(net->n_params * sizeof *params);
  float *state = malloc((net->n_state + 1) * sizeof *state);
  float *rows = malloc((size_t)n_micro * row_len * sizeof *rows);
  float *sum = malloc(row_len * sizeof *sum);
  float *probs = malloc((size_t)batch * (size_t)net->n_classes * sizeof *probs);
  double *prof = calloc((size_t)n_threads * (size_t)(2 * L + 2), sizeof *prof);
  jc_net_ws **ws = calloc((size_t)n_threads, sizeof *ws);
  jc_optim *opt = optim_create(hp->optimizer, net->n_params, &err);
  if (!x || !labels || !params || !state || !rows || !sum || !probs || !prof || !ws || !opt) {
    fprintf(stderr, "jc_bench: out of memory\n");
    return JC_ERR_NOMEM;
  }
  for (int t = 0; t < n_threads; t++) {
    if (!(ws[t] = net_ws_create(net, micro, &err))) {
      fprintf(stderr, "jc_bench: %s\n", err.msg);
      return JC_ERR_NOMEM;
    }
    if (o.profile) ws[t]->prof = prof + (size_t)t * (size_t)(2 * L + 2);
  }
  jc_rng r = rng_stream(12345);
  for (size_t i = 0; i < (size_t)batch * per; i++) x[i] = (float)rng_uniform(&r);
  for (int i = 0; i < batch; i++) labels[i] = (int32_t)(rng_next(&r) % (uint64_t)net->n_classes);
  if ((o.input && read_raw(o.input, x, (size_t)batch * per * sizeof *x) != 0) ||
      (o.labels && read_raw(o.labels, labels, (size_t)batch * sizeof *labels) != 0)) {
    fprintf(stderr, "jc_bench: %s / %s: not a raw file of %d jets / labels\n", o.input ? o.input : "-",
            o.labels ? o.labels : "-", batch);
    return JC_ERR_DATA;
  }
  net_init_params(net, params, hp->seed);
  net_init_state(net, state);

  /* Segments as in train.c: each kernel and bias, each statistic, each slot's batch statistics. */
  size_t *seg = malloc((size_t)(2 * L * (1 + n_micro) + N_STATS + 1) * sizeof *seg);
  if (!seg) return JC_ERR_NOMEM;
  int n_seg = net_param_segments(net, seg);
  for (int k = 0; k < N_STATS; k++, n_seg++) seg[n_seg + 1] = net->n_params + (size_t)k + 1;
  for (int k = 0; net->n_batch_stats && k < n_micro; k++)
    n_seg += net_stats_segments(net, stats_at + (size_t)k * net->n_batch_stats, seg + n_seg + 1);
  jc_reducer *red = dist_reducer_create(row_len, seg, n_seg, &err);
  free(seg);
  if (!red) return JC_ERR_NOMEM;

  double flops_fwd, flops_train;
  count_flops(net, &flops_fwd, &flops_train);
  int do_train = strcmp(o.mode, "infer") != 0, do_infer = strcmp(o.mode, "train") != 0;
  double t_train = 0.0, t_infer = 0.0, t_reduce = 0.0, t_optim = 0.0, loss_last = 0.0;

  for (long s = 0; do_train && s < o.warmup + o.steps; s++) {
    if (s == o.warmup) {
      memset(prof, 0, (size_t)n_threads * (size_t)(2 * L + 2) * sizeof *prof);
      t_reduce = t_optim = 0.0;
    }
    const float scale = 1.0f / (float)batch;
    double t0 = MPI_Wtime();
#pragma omp parallel for schedule(dynamic, 1)
    for (int k = 0; k < n_micro; k++) {
      jc_net_ws *w = ws[omp_get_thread_num()];
      float *row = rows + (size_t)k * row_len;
      jc_ctx ctx = {.training = 1, .seed = hp->seed, .step = (uint64_t)s, .first_sample = (uint64_t)k * micro,
                    .batch_stats = row + stats_at + (size_t)k * net->n_batch_stats};
      int hits = 0;
      memset(row, 0, row_len * sizeof *row);
      double loss = train_micro(net, params, w, x + (size_t)k * micro * per, labels + (size_t)k * micro, micro,
                                scale, ctx, row, &hits);
      row[net->n_params + STAT_LOSS] = (float)loss;
      row[net->n_params + STAT_CORRECT] = (float)hits;
      row[net->n_params + STAT_SAMPLES] = (float)micro;
    }
    double t1 = MPI_Wtime();
    int bad = -1;
    rc = dist_sum_exact(MPI_COMM_SELF, red, rows, n_micro, n_micro, sum, JC_OK, &bad, &err);
    if (rc != JC_OK) {
      fprintf(stderr, "jc_bench: step %ld: %s\n", s, err.msg);
      return rc;
    }
    double t2 = MPI_Wtime();
    for (int k = 0; net->n_state && k < n_micro; k++) net_update_state(net, state, sum + stats_at + (size_t)k * net->n_batch_stats, micro);
    optim_step(opt, hp, params, sum, hp->learning_rate);
    double t3 = MPI_Wtime();
    if (s >= o.warmup) {
      t_train += t3 - t0;
      t_reduce += t2 - t1;
      t_optim += t3 - t2;
    }
    loss_last = sum[net->n_params + STAT_LOSS] / (double)batch;
  }
  double *prof_train = calloc((size_t)(2 * L), sizeof *prof_train);
  for (int t = 0; prof_train && t < n_threads; t++)
    for (int j = 0; j < 2 * L; j++) prof_train[j] += prof[(size_t)t * (size_t)(2 * L + 2) + (size_t)j];

  /* Inference as predict runs it: the inference net, batch norm folded (built once). */
  jc_net *inet = NULL;
  float *iparams = NULL;
  jc_net_ws **iws = calloc((size_t)n_threads, sizeof *iws);
  if (!iws || net_inference(net, params, state, &inet, &iparams, &err) != JC_OK) {
    fprintf(stderr, "jc_bench: %s\n", err.msg);
    return JC_ERR_NOMEM;
  }
  for (int t = 0; t < n_threads; t++)
    if (!(iws[t] = net_ws_create(inet, micro, &err))) {
      fprintf(stderr, "jc_bench: %s\n", err.msg);
      return JC_ERR_NOMEM;
    }
  for (long s = 0; do_infer && s < o.warmup + o.steps; s++) {
    double t0 = MPI_Wtime();
#pragma omp parallel for schedule(static, 1)
    for (int k = 0; k < n_micro; k++) {
      jc_net_ws *w = iws[omp_get_thread_num()];
      jc_ctx ctx = {0};
      const float *logits = net_forward(inet, iparams, w, x + (size_t)k * micro * per, micro, ctx);
      loss_probabilities(net->head, logits, micro, net->n_logits, probs + (size_t)k * micro * net->n_classes);
    }
    if (s >= o.warmup) t_infer += MPI_Wtime() - t0;
  }

  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double steps = (double)o.steps, imgs = steps * batch;
  printf("{\"config\": \"%s\", \"batch\": %d, \"micro_batch\": %d, \"threads\": %d, \"params\": %zu,\n", o.config,
         batch, micro, n_threads, net->n_params);
  printf(" \"flops_forward\": %.0f, \"flops_train\": %.0f, \"peak_rss_mb\": %.1f, \"final_loss\": %.6f", flops_fwd,
         flops_train, (double)ru.ru_maxrss / 1024.0, loss_last);
  if (do_train)
    printf(",\n \"train_img_s\": %.1f, \"train_gflop_s\": %.2f", imgs / t_train, imgs * flops_train / t_train * 1e-9);
  if (do_infer)
    printf(",\n \"infer_img_s\": %.1f, \"infer_gflop_s\": %.2f", imgs / t_infer, imgs * flops_fwd / t_infer * 1e-9);
  if (o.profile && do_train && prof_train) {
    /* Thread-seconds per step: with T threads busy, wall time is about their sum / T. */
    printf(",\n \"profile_s_per_step\": {\"step_wall\": %.6f, \"reduce\": %.6f, \"optimizer\": %.6f, \"layers\": [",
           t_train / steps, t_reduce / steps, t_optim / steps);
    for (int i = 0; i < L; i++) {
      const jc_layer *l = &net->layers[i];
      printf("%s\n  {\"layer\": %d, \"kind\": \"%s\", \"label\": \"%s\", \"out\": \"%dx%dx%d\", \"forward\": %.6f, "
             "\"backward\": %.6f}",
             i ? "," : "", i, l->ops->kind, l->label, l->out.h, l->out.w, l->out.c, prof_train[2 * i] / steps,
             prof_train[2 * i + 1] / steps);
    }
    printf("]}");
  }
  printf("}\n");
  for (int t = 0; t < n_threads; t++) {
    net_ws_free(&ws[t]);
    net_ws_free(&iws[t]);
  }
  free(ws);
  free(iws);
  free(iparams);
  free(state);
  net_free(&inet);
  free(prof_train);
  free(prof);
  free(x);
  free(labels);
  free(params);
  free(rows);
  free(sum);
  free(probs);
  optim_free(&opt);
  dist_reducer_free(&red);
  net_free(&net);
  MPI_Finalize();
  return 0;
}
