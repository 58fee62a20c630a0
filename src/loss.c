/* loss.c - softmax cross-entropy and sigmoid binary cross-entropy on logits. */
#include "jetcnn/loss.h"

#include <math.h>

/* Softmax CE per sample: L = logsumexp(z) - z_y; dL/dz = softmax(z) - onehot(y).
 * Sigmoid BCE: L = max(z,0) - z*y + log(1 + e^-|z|); dL/dz = sigmoid(z) - y. */
double loss_forward_backward(jc_head head, const float *logits, const int32_t *labels, int n, int n_logits,
                             float scale, float *dlogits, int *n_correct) {
  double total = 0.0;
  int correct = 0;
  for (int i = 0; i < n; i++) {
    const float *z = logits + (size_t)i * n_logits;
    float *dz = dlogits ? dlogits + (size_t)i * n_logits : NULL;
    int y = labels[i];
    if (head == HEAD_SIGMOID) {
      double zi = z[0];
      total += fmax(zi, 0.0) - zi * y + log1p(exp(-fabs(zi)));
      double p = 1.0 / (1.0 + exp(-zi));
      if (dz) dz[0] = (float)((p - y) * scale);
      correct += (p > 0.5) == (y == 1);
      continue;
    }
    int best = 0;
    double m = z[0];
    for (int k = 1; k < n_logits; k++)
      if (z[k] > z[best]) best = k;
    m = z[best];
    double s = 0.0;
    for (int k = 0; k < n_logits; k++) s += exp((double)z[k] - m);
    double lse = m + log(s);
    total += lse - z[y];
    correct += best == y;
    if (dz)
      for (int k = 0; k < n_logits; k++)
        dz[k] = (float)((exp((double)z[k] - lse) - (k == y ? 1.0 : 0.0)) * scale);
  }
  if (n_correct) *n_correct = correct;
  return total;
}

void loss_probabilities(jc_head head, const float *logits, int n, int n_logits, float *probs) {
  for (int i = 0; i < n; i++) {
    const float *z = logits + (size_t)i * n_logits;
    if (head == HEAD_SIGMOID) {
      double p = 1.0 / (1.0 + exp(-(double)z[0]));
      probs[2 * i] = (float)(1.0 - p);
      probs[2 * i + 1] = (float)p;
      continue;
    }
    double m = z[0], s = 0.0;
    for (int k = 1; k < n_logits; k++) m = fmax(m, z[k]);
    for (int k = 0; k < n_logits; k++) s += exp((double)z[k] - m);
    for (int k = 0; k < n_logits; k++) probs[(size_t)i * n_logits + k] = (float)(exp((double)z[k] - m) / s);
  }
}
