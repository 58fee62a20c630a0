/* optim.h - optimizers over the flat parameter array (SGD, momentum, Nesterov, Adam,
 * AdamW, with PyTorch's update rules) and the learning-rate schedule. */
#ifndef JETCNN_OPTIM_H
#define JETCNN_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "jetcnn/net.h"

typedef struct {
  jc_optimizer kind;
  size_t n;          /* number of parameters */
  float *m, *v;      /* moment buffers (momentum uses m), owned; NULL when unused */
  int64_t t;         /* number of steps taken */
} jc_optim;

/* State for n parameters, zeroed. Caller owns it (optim_free). */
jc_optim *optim_create(jc_optimizer kind, size_t n, jc_err *err);
void optim_free(jc_optim **opt);

/* One update of params with gradients grads at learning rate lr (hp gives momentum,
 * betas, epsilon, weight decay). Elementwise, so the result does not depend on threads. */
void optim_step(jc_optim *opt, const jc_hparams *hp, float *params, const float *grads, double lr);

/* Learning rate at global step `step` (0-based) of steps_per_epoch * epochs: linear warm-up
 * over warmup_epochs, then constant / step (x gamma every step_epochs) / cosine to 0. */
double optim_lr(const jc_hparams *hp, int64_t step, int64_t steps_per_epoch);

#endif
