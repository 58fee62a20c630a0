/* optim.c - optimizers and learning-rate schedule (see optim.h). */
#include "jetcnn/optim.h"

#include <math.h>
#include <stdlib.h>

jc_optim *optim_create(jc_optimizer kind, size_t n, jc_err *err) {
  jc_optim *o = jc_calloc(1, sizeof *o, err);
  if (!o) return NULL;
  o->kind = kind;
  o->n = n;
  if (kind != OPT_SGD) o->m = jc_calloc(n, sizeof(float), err);
  if (kind == OPT_ADAM || kind == OPT_ADAMW) o->v = jc_calloc(n, sizeof(float), err);
  if ((kind != OPT_SGD && !o->m) || ((kind == OPT_ADAM || kind == OPT_ADAMW) && !o->v)) optim_free(&o);
  return o;
}

void optim_free(jc_optim **opt) {
  if (!opt || !*opt) return;
  free((*opt)->m);
  free((*opt)->v);
  free(*opt);
  *opt = NULL;
}

void optim_step(jc_optim *o, const jc_hparams *hp, float *p, const float *g, double lr_d) {
  const long n = (long)o->n;
  const float lr = (float)lr_d, wd = (float)hp->weight_decay, mu = (float)hp->momentum;
  o->t++;
  switch (o->kind) {
    case OPT_SGD:
#pragma omp parallel for schedule(static)
      for (long i = 0; i < n; i++) p[i] -= lr * (g[i] + wd * p[i]);
      break;
    case OPT_MOMENTUM:
    case OPT_NESTEROV: {
      /* PyTorch SGD: b = mu b + g (b = g at the first step); nesterov uses g + mu b. */
      const int nesterov = o->kind == OPT_NESTEROV, first = o->t == 1;
#pragma omp parallel for schedule(static)
      for (long i = 0; i < n; i++) {
        float gi = g[i] + wd * p[i];
        float b = first ? gi : mu * o->m[i] + gi;
        o->m[i] = b;
        p[i] -= lr * (nesterov ? gi + mu * b : b);
      }
      break;
    }
    case OPT_ADAM:
    case OPT_ADAMW: {
      const float b1 = (float)hp->beta1, b2 = (float)hp->beta2, eps = (float)hp->epsilon;
      const double bc1 = 1.0 - pow(hp->beta1, (double)o->t), bc2 = 1.0 - pow(hp->beta2, (double)o->t);
      const float step = (float)(lr_d / bc1), sqrt_bc2 = (float)sqrt(bc2);
      const int decoupled = o->kind == OPT_ADAMW;
#pragma omp parallel for schedule(static)
      for (long i = 0; i < n; i++) {
        float gi = g[i];
        if (decoupled) p[i] *= 1.0f - lr * wd;
        else gi += wd * p[i];
        o->m[i] = b1 * o->m[i] + (1.0f - b1) * gi;
        o->v[i] = b2 * o->v[i] + (1.0f - b2) * gi * gi;
        p[i] -= step * o->m[i] / (sqrtf(o->v[i]) / sqrt_bc2 + eps);
      }
      break;
    }
  }
}

double optim_lr(const jc_hparams *hp, int64_t step, int64_t steps_per_epoch) {
  double lr = hp->learning_rate;
  double warm = hp->warmup_epochs * (double)steps_per_epoch;
  double total = (double)hp->epochs * (double)steps_per_epoch;
  if (step < warm) return lr * (double)(step + 1) / warm;
  switch (hp->schedule) {
    case SCHED_CONSTANT:
      return lr;
    case SCHED_STEP:
      return lr * pow(hp->gamma, floor((double)step / ((double)hp->step_epochs * (double)steps_per_epoch)));
    case SCHED_COSINE: {
      double span = total - warm;
      double frac = span > 0 ? ((double)step - warm) / span : 0.0;
      return lr * 0.5 * (1.0 + cos(M_PI * fmin(frac, 1.0)));
    }
  }
  return lr;
}
