/* net.h - a model built from a config: the layer graph, the [net] hyperparameters, the
 * parameter layout, and forward/backward over one micro-batch.
 *
 * The net only describes the model; the memory it computes with is separate:
 *   params / grads   one float array each, n_params long, owned by the caller
 *                    (layer kernels and biases are views into them);
 *   state            n_state floats owned by the caller: non-trainable state (batch norm's
 *                    running statistics), not in the gradient or the optimizer, updated by
 *                    net_update_state from each training micro-batch's batch statistics
 *                    (n_batch_stats floats, written by net_forward through ctx.batch_stats);
 *   jc_net_ws        activations and scratch for micro-batches of up to max_n samples,
 *                    one per thread, allocated once (a training step allocates nothing).
 * For inference (validation, predict) net_create_inference builds the same model with every
 * batch norm folded into the conv/dense before it (or reduced to a per-channel scale and
 * shift), and net_fold_params fills its parameters from the trained ones and the state.
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
  size_t n_state;          /* non-trainable state floats (layer l's at l->state_offset) */
  size_t n_batch_stats;    /* batch statistics of one training micro-batch (l->stats_offset) */
  int inference;           /* 1: built by net_create_inference */
  jc_head head;            /* how logits become probabilities and which loss is used */
  int n_classes;           /* K >= 2 (sigmoid head: 2 classes from 1 logit) */
  int n_logits;            /* outputs per sample: K for softmax, 1 for sigmoid */
} jc_net;

/* Build the net described by cfg. Takes ownership of cfg (also on failure). Shapes are
 * inferred here; any inconsistency is a JC_ERR_USAGE naming FILE:LINE. *out owned by the
 * caller (net_free). */
jc_code net_create(jc_config *cfg, jc_net **out, jc_err *err);
void net_free(jc_net **net);

/* The inference model of net (same config, same layer indices): every batch norm whose input
 * is a conv/dense output that nothing else reads is folded into that layer (which then has a
 * bias), every other one is a per-channel scale and shift; no state. *out owned by the caller
 * (net_free). */
jc_code net_create_inference(const jc_net *net, jc_net **out, jc_err *err);

/* iparams (inet->n_params) = params (net's layout) with each batch norm's inference map
 * a x + b (a = gamma/sqrt(running_var + eps), b = beta - running_mean a, from state) folded:
 * into the layer before (kernel row c times a_c, bias b_c + a_c bias_c), or as its own kernel and
 * bias. inet must come from net_create_inference(net). */
void net_fold_params(const jc_net *net, const float *params, const float *state, const jc_net *inet, float *iparams);

/* Both at once: *inet = net_create_inference(net) and *iparams (malloc'ed, inet->n_params
 * floats) folded from params and state; both owned by the caller (net_free, free). */
jc_code net_inference(const jc_net *net, const float *params, const float *state, jc_net **inet, float **iparams,
                      jc_err *err);

/* Fill params (n_params floats) with the initial weights for seed: kernels and biases
 * uniform in +-1/sqrt(fan_in) (PyTorch's default), from a counter-based stream per layer;
 * kinds with their own rule (batch norm: scale 1, shift 0) use it. */
void net_init_params(const jc_net *net, float *params, uint64_t seed);

/* The initial state (n_state floats; batch norm: running mean 0, variance 1). */
void net_init_state(const jc_net *net, float *state);

/* One update of the state from the batch statistics `stats` (n_batch_stats floats) that a
 * training net_forward of n samples wrote (batch norm: one momentum step of the running
 * statistics). Apply one per micro-batch, in the global micro-batch order. */
void net_update_state(const jc_net *net, float *state, const float *stats, int n);

/* The ends of the batch statistics' parts of like magnitude (a norm's means, its variances),
 * for reduction segments: ends[0 .. n-1] = base + each part's end within n_batch_stats
 * (ends holds at least 2 * n_layers). Returns n. */
int net_stats_segments(const jc_net *net, size_t base, size_t *ends);

/* Apply the model's input normalisation (normalize, input_scale) in place to n samples. */
void net_normalize_input(const jc_net *net, float *x, int n);

/* Per-thread activations and scratch for micro-batches of up to max_n samples. */
typedef struct {
  int max_n;
  float **act;   /* act[i]: output of layer i, (max_n, out_i); a skipped layer's is its input's */
  float *d0, *d1; /* ping-pong gradient buffers, max activation size */
  float **gsum;  /* gsum[i]: the gradient of output i when several layers read it, else NULL */
  float *gtmp[LAYER_MAX_INPUTS]; /* a further reader's share of such a gradient, before it is added */
  const float **grad; /* during net_backward: where the gradient of output i is */
  unsigned char *have; /* during net_backward: 1 once grad[i] holds a first share */
  float *scratch;
  float **saved;  /* saved[i]: layer i's ws_saved floats (ctx.saved), or NULL */
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
 * dlogits = dL/dlogits (n, n_logits). Layers run from the last to the first; the gradient
 * of an output that several layers read is the sum of their shares in that order (the
 * reader with the highest index first, inputs in slot order): the same bits on any thread. */
void net_backward(const jc_net *net, const float *params, jc_net_ws *ws, const float *x,
                  const float *dlogits, float *grads, int n, jc_ctx ctx);

/* Boundaries of the parameter array's segments, one per kernel and one per bias, in order:
 * seg[0] = 0, seg[1..n] their ends (seg holds at least 2 * n_layers + 1). Returns n. */
int net_param_segments(const jc_net *net, size_t *seg);

/* The Keras-style summary table (shapes, parameters, FLOPs, activation memory) as text,
 * owned by the caller (free); NULL with err set when out of memory. */
char *net_summary(const jc_net *net, jc_err *err);

#endif
