/* loss.h - losses on logits, numerically stable (log-sum-exp), and the probabilities
 * they imply. */
#ifndef JETCNN_LOSS_H
#define JETCNN_LOSS_H

#include <stdint.h>

#include "jetcnn/net.h"

/* Loss of n samples with the net's head: softmax cross-entropy over n_logits classes, or
 * sigmoid binary cross-entropy on one logit. Writes dlogits = scale * dL_i/dlogits for each
 * sample (scale = 1/global batch gives the batch-mean gradient). Returns the SUM of the
 * per-sample losses; *n_correct counts argmax (or p > 0.5) hits. */
double loss_forward_backward(jc_head head, const float *logits, const int32_t *labels, int n, int n_logits,
                             float scale, float *dlogits, int *n_correct);

/* Probabilities (n, K) from logits; for the sigmoid head K = 2 (1-p, p). */
void loss_probabilities(jc_head head, const float *logits, int n, int n_logits, float *probs);

#endif
