/* evaluate.c - forward-only passes over a range of jets (validation and prediction). */
#include <omp.h>
#include <stdlib.h>

#include "jetcnn/loss.h"
#include "jetcnn/train.h"

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
