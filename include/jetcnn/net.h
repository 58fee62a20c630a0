/* net.h - a model built from a config: the layer list, the [net] hyperparameters, the
 * parameter layout, and forward/backward over one micro-batch.
 *
 * The net only describes the model; the memory it computes with is separate:
 *   params / grads   one float array each, n_params long, owned by the caller
 *                    (layer kernels and biases are views into them);
 *   jc_net_ws        activations and scratch for micro-batches of up to max_n samples,
 *                    one per thread, allocated once (a training step allocates nothing).
 */
#ifndef JETCNN_NET_H
#define JETCNN_NET_H

#include <stdint.h>
#include <stdio.h>

#include "jetcnn/config.h"
#include "jetcnn/layer.h"

typedef enum { OPT_SGD, OPT_MOMENTUM, OPT_NESTEROV, OPT_ADAM, OPT_ADAMW } jc_optimizer;
typedef enum { SCHED_CONSTANT, SCHED_STEP, SCHED_COSINE } jc_schedule;
typedef enum { NORM_NONE, NORM_SUM } jc_normalize;
typedef enum { HEAD_SOFTMAX, HEAD_SIGMOID } jc_head;

/* The [net] section (docs/config.md). */
typedef struct {
  jc_shape input;          /* C, H, W (the config writes H x W x C) */
  long batch;              /* global batch, whatever the number of ranks */
  long micro_batch;        /* samples per micro-batch (the unit of work and of data shuffling) */
  long epochs;
  jc_optimizer optimizer;
  double learning_rate, momentum, beta1, beta2, epsilon, weight_decay;
  jc_schedule schedule;
  double warmup_epochs;
  long step_epochs;        /* step schedule: multiply by gamma every step_epochs */
  double gamma;
  uint64_t seed;
  int shuffle;             /* 1: new block order every epoch */
  jc_normalize normalize;  /* per-image normalisation before input_scale */
  double input_scale;      /* pixels are multiplied by this (after normalize) */
  long shuffle_window;     /* jets shuffled together (rounded to whole HDF5 chunks); bounds I/O memory */
  long checkpoint_every;   /* also checkpoint every this many optimizer steps (0: only at epoch ends) */
  long keep_checkpoints;   /* checkpoint-STEP.h5 files kept in the run directory (the newest K) */
} jc_hparams;

typedef struct {
  jc_config *cfg;          /* owned: layers borrow its strings */
  jc_hparams hp;
  jc_layer *layers;
  int n_layers;
  size_t n_params;
  jc_head head;            /* how logits become probabilities and which loss is used */
  int n_classes;           /* K >= 2 (sigmoid head: 2 classes from 1 logit) */
  int n_logits;            /* outputs per sample: K for softmax, 1 for sigmoid */
} jc_net;

/* Build the net described by cfg. Takes ownership of cfg (also on failure). Shapes are
 * inferred here; any inconsistency is a JC_ERR_USAGE naming FILE:LINE. *out owned by the
 * caller (net_free). */
jc_code net_create(jc_config *cfg, jc_net **out, jc_err *err);
void net_free(jc_net **net);

/* Fill params (n_params floats) with the initial weights for seed: kernels and biases
 * uniform in +-1/sqrt(fan_in) (PyTorch's default), from a counter-based stream per layer. */
void net_init_params(const jc_net *net, float *params, uint64_t seed);

/* Apply the model's input normalisation (normalize, input_scale) in place to n samples. */
void net_normalize_input(const jc_net *net, float *x, int n);

/* Per-thread activations and scratch for micro-batches of up to max_n samples. */
typedef struct {
  int max_n;
  float **act;   /* act[i]: output of layer i, (max_n, out_i) */
  float *d0, *d1; /* ping-pong gradient buffers, max activation size */
  float *scratch;
  float *dlogits;
  double *prof;   /* NULL, or 2 * n_layers: += thread CPU seconds of layer i forward, backward */
} jc_net_ws;

jc_net_ws *net_ws_create(const jc_net *net, int max_n, jc_err *err);
void net_ws_free(jc_net_ws **ws);

/* Forward n <= ws->max_n samples x (n, C, H, W). Returns the logits (n, n_logits),
 * borrowed from ws until its next use. ctx->ws is set internally. */
const float *net_forward(const jc_net *net, const float *params, jc_net_ws *ws, const float *x, int n,
                         jc_ctx ctx);

/* Backward after net_forward on the same ws and x: grads += dL/dparams given
 * dlogits = dL/dlogits (n, n_logits). */
void net_backward(const jc_net *net, const float *params, jc_net_ws *ws, const float *x,
                  const float *dlogits, float *grads, int n, jc_ctx ctx);

/* The training work of one micro-batch: forward, loss on labels (n), backward.
 * grads += scale * sum_i dL_i/dparams (scale = 1 / global batch); returns the summed loss
 * and *hits the correct predictions. The same bits whichever thread runs it. */
double net_train_micro(const jc_net *net, const float *params, jc_net_ws *ws, const float *x,
                       const int32_t *labels, int n, float scale, jc_ctx ctx, float *grads, int *hits);

/* Boundaries of the parameter array's segments, one per kernel and one per bias, in order:
 * seg[0] = 0, seg[1..n] their ends (seg holds at least 2 * n_layers + 1). Returns n. */
int net_param_segments(const jc_net *net, size_t *seg);

/* The Keras-style summary table (shapes, parameters, FLOPs, activation memory) as text,
 * owned by the caller (free); NULL with err set when out of memory. */
char *net_summary(const jc_net *net, jc_err *err);

#endif
