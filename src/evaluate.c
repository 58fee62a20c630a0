/* evaluate.c - forward-only passes over the jets of a file, shared by validation and
 * prediction (see evaluate.h). */
#include "jetcnn/evaluate.h"

#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "jetcnn/dist.h"
#include "jetcnn/loss.h"
#include "jetcnn/roc.h"

jc_code eval_range(const jc_net *net, const float *params, jc_data *d, size_t start, size_t count, float *probs,
                   double *loss_sum, long *n_correct, jc_err *err) {
  *loss_sum = 0.0;
  *n_correct = 0;
  const int micro = (int)net->hp.micro_batch, n_threads = omp_get_max_threads();
  const size_t per = shape_size(net->hp.input), chunk = (size_t)micro * (size_t)n_threads;
  jc_code rc = JC_OK;
  jc_net_ws **ws = jc_calloc((size_t)n_threads, sizeof *ws, err);
  float *x = jc_malloc(chunk * per * sizeof *x, err);
  double *micro_loss = jc_malloc((size_t)n_threads * sizeof *micro_loss, err);
  int *micro_hits = jc_malloc((size_t)n_threads * sizeof *micro_hits, err);
  if (!ws || !x || !micro_loss || !micro_hits) rc = JC_ERR_NOMEM;
  for (int t = 0; rc == JC_OK && t < n_threads; t++)
    if (!(ws[t] = net_ws_create(net, micro, err))) rc = JC_ERR_NOMEM;
  for (size_t done = 0; rc == JC_OK && done < count; done += chunk) {
    size_t n = count - done < chunk ? count - done : chunk;
    rc = data_read(d, start + done, n, x, err);
    if (rc != JC_OK) break;
    net_normalize_input(net, x, (int)n);
    int n_micro = (int)((n + (size_t)micro - 1) / (size_t)micro);
#pragma omp parallel for schedule(static, 1)
    for (int m = 0; m < n_micro; m++) {
      size_t first = (size_t)m * (size_t)micro;
      int len = (int)(n - first < (size_t)micro ? n - first : (size_t)micro);
      jc_net_ws *w = ws[omp_get_thread_num()];
      jc_ctx ctx = {0};
      const float *logits = net_forward(net, params, w, x + first * per, len, ctx);
      micro_loss[m] = loss_forward_backward(net->head, logits, d->labels + start + done + first, len,
                                            net->n_logits, 0.0f, NULL, &micro_hits[m]);
      loss_probabilities(net->head, logits, len, net->n_logits, probs + (done + first) * (size_t)net->n_classes);
    }
    for (int m = 0; m < n_micro; m++) { /* fixed order: same result for any thread count */
      *loss_sum += micro_loss[m];
      *n_correct += micro_hits[m];
    }
  }
  for (int t = 0; ws && t < n_threads; t++) net_ws_free(&ws[t]);
  free(ws);
  free(x);
  free(micro_loss);
  free(micro_hits);
  return rc;
}

/* Every rank's scores [lo, hi) of d's n jets into ev->all_scores on rank 0. Collective. */
static jc_code gather_scores(const jc_data *d, MPI_Comm comm, jc_eval *ev, jc_err *err) {
  const int rank = dist_rank(comm), size = dist_size(comm);
  int *counts = jc_malloc(2 * (size_t)size * sizeof *counts, err);
  jc_code rc = counts ? JC_OK : JC_ERR_NOMEM;
  if (rc == JC_OK && rank == 0 && !(ev->all_scores = jc_malloc((d->n + 1) * sizeof *ev->all_scores, err)))
    rc = JC_ERR_NOMEM;
  if (rc == JC_OK && d->n > (size_t)INT_MAX)
    rc = jc_fail(err, JC_ERR_RUNTIME, "%s: %zu jets are more than one MPI gather can carry", d->path, d->n);
  rc = dist_agree(comm, rc, err);
  if (rc == JC_OK) {
    int *displs = counts + size;
    for (int r = 0; r < size; r++) {
      size_t a, b;
      plan_share(d->n, r, size, &a, &b);
      counts[r] = (int)(b - a);
      displs[r] = (int)a;
    }
    rc = JC_MPI(MPI_Gatherv(ev->score, counts[rank], MPI_FLOAT, ev->all_scores, counts, displs, MPI_FLOAT, 0, comm),
                err);
    rc = dist_agree(comm, rc, err);
  }
  free(counts);
  return rc;
}

jc_code eval_scores(const jc_net *net, const float *params, jc_data *d, int gather, MPI_Comm comm, jc_eval *ev,
                    jc_err *err) {
  const size_t K = (size_t)net->n_classes;
  *ev = (jc_eval){0};
  plan_share(d->n, dist_rank(comm), dist_size(comm), &ev->lo, &ev->hi);
  const size_t mine = ev->hi - ev->lo;
  ev->probs = jc_malloc((mine * K + 1) * sizeof *ev->probs, err);
  ev->score = jc_malloc((mine + 1) * sizeof *ev->score, err);
  double sums[2] = {0.0, 0.0}; /* loss, correct predictions */
  long correct = 0;
  jc_code rc = ev->probs && ev->score ? JC_OK : JC_ERR_NOMEM;
  if (rc == JC_OK) rc = eval_range(net, params, d, ev->lo, mine, ev->probs, &sums[0], &correct, err);
  JC_TRY(dist_agree(comm, rc, err));
  sums[1] = (double)correct;
  rc = JC_MPI(MPI_Allreduce(MPI_IN_PLACE, sums, 2, MPI_DOUBLE, MPI_SUM, comm), err);
  JC_TRY(dist_agree(comm, rc, err));
  ev->loss = sums[0] / (double)d->n;
  ev->acc = sums[1] / (double)d->n;
  for (size_t i = 0; i < mine; i++) ev->score[i] = ev->probs[i * K + 1];
  return gather ? gather_scores(d, comm, ev, err) : JC_OK;
}

void eval_free(jc_eval *ev) {
  free(ev->probs);
  free(ev->score);
  free(ev->all_scores);
  *ev = (jc_eval){0};
}

jc_code eval_validate(const jc_net *net, const float *params, jc_data *d, MPI_Comm comm, jc_val_stats *vs,
                      jc_err *err) {
  jc_eval ev;
  jc_code rc = eval_scores(net, params, d, 1, comm, &ev, err);
  double roc[2] = {NAN, NAN}; /* AUC, 1/eps_B(0.3): rank 0 computes, every rank returns */
  if (rc == JC_OK) {
    if (dist_rank(comm) == 0 && net->n_classes == 2) {
      jc_err roc_err; /* a file of one class has no ROC: NaN, not a failure */
      jc_err_clear(&roc_err);
      if (roc_metrics(ev.all_scores, d->labels, d->n, 0.3, &roc[0], &roc[1], &roc_err) != JC_OK) roc[0] = roc[1] = NAN;
    }
    rc = JC_MPI(MPI_Bcast(roc, 2, MPI_DOUBLE, 0, comm), err);
    rc = dist_agree(comm, rc, err);
  }
  *vs = (jc_val_stats){ev.loss, ev.acc, roc[0], roc[1]};
  eval_free(&ev);
  return rc;
}
