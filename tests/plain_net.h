/* plain_net.h - forward and backward through every layer of a net in plain loops, for the
 * tests that check net_forward/net_backward and the layers (test_gradcheck.c, jc_reference.c).
 *
 * Unlike net_forward/net_backward it runs every layer, fused ReLUs included (running a ReLU
 * on its producer's ReLU'd output changes nothing), keeps one output and one output-gradient
 * buffer per layer, and writes the gradient of the net's input. The gradient of an output
 * read by several layers is their shares in net_backward's order (highest reader first,
 * inputs in slot order), so that both give the same bits. Not for inference nets (a folded
 * batch norm must not run).
 */
#ifndef JETCNN_TESTS_PLAIN_NET_H
#define JETCNN_TESTS_PLAIN_NET_H

#include <stdlib.h>
#include <string.h>

#include "jetcnn/net.h"

typedef struct {
  int n;              /* samples */
  float **act;        /* act[i]: output of layer i (n, out_i) */
  float **gout;       /* gout[i]: dL/d(output of layer i) */
  unsigned char *got; /* during backward: gout[i] holds a first share */
  float *dx[LAYER_MAX_INPUTS]; /* one layer's input gradients, biggest size */
  float *dinput;      /* dL/d(net input) (n, C, H, W) */
  float *scratch;
  float **saved;      /* saved[i]: layer i's ws_saved floats (ctx.saved) */
} plain_net;

static inline void plain_free(const jc_net *net, plain_net *p) {
  for (int i = 0; net && i < net->n_layers; i++) {
    if (p->act) free(p->act[i]);
    if (p->gout) free(p->gout[i]);
    if (p->saved) free(p->saved[i]);
  }
  free(p->saved);
  free(p->act);
  free(p->gout);
  free(p->got);
  for (int s = 0; s < LAYER_MAX_INPUTS; s++) free(p->dx[s]);
  free(p->dinput);
  free(p->scratch);
  memset(p, 0, sizeof *p);
}

/* Buffers for n samples; 0 when out of memory (then plain_free). */
static inline int plain_create(const jc_net *net, int n, plain_net *p) {
  memset(p, 0, sizeof *p);
  p->n = n;
  size_t biggest = shape_size(net->hp.input), scratch = 1;
  for (int i = 0; i < net->n_layers; i++) {
    if (shape_size(net->layers[i].out) > biggest) biggest = shape_size(net->layers[i].out);
    if (layer_ws_floats(&net->layers[i], n) > scratch) scratch = layer_ws_floats(&net->layers[i], n);
  }
  p->act = calloc((size_t)net->n_layers, sizeof *p->act);
  p->gout = calloc((size_t)net->n_layers, sizeof *p->gout);
  p->got = calloc((size_t)net->n_layers, 1);
  p->dinput = calloc((size_t)n * shape_size(net->hp.input), sizeof(float));
  p->scratch = calloc(scratch, sizeof(float));
  p->saved = calloc((size_t)net->n_layers, sizeof *p->saved);
  int ok = p->act && p->gout && p->got && p->dinput && p->scratch && p->saved;
  for (int s = 0; ok && s < LAYER_MAX_INPUTS; s++) ok = (p->dx[s] = calloc((size_t)n * biggest, sizeof(float))) != NULL;
  for (int i = 0; ok && i < net->n_layers; i++) {
    p->act[i] = calloc((size_t)n * shape_size(net->layers[i].out), sizeof(float));
    p->gout[i] = calloc((size_t)n * shape_size(net->layers[i].out), sizeof(float));
    p->saved[i] = calloc(net->layers[i].ws_saved + 1, sizeof(float));
    ok = p->act[i] && p->gout[i] && p->saved[i];
  }
  return ok;
}

/* Forward through every layer; returns the logits (the last layer's output). */
static inline const float *plain_forward(const jc_net *net, const float *params, const float *x, plain_net *p,
                                         jc_ctx ctx) {
  ctx.ws = p->scratch;
  for (int i = 0; i < net->n_layers; i++) {
    const jc_layer *l = &net->layers[i];
    const float *in[LAYER_MAX_INPUTS];
    for (int s = 0; s < l->n_in; s++) in[s] = l->src[s] >= 0 ? p->act[l->src[s]] : x;
    ctx.saved = p->saved[i];
    layer_forward(l, params, in, p->act[i], p->n, &ctx);
  }
  return p->act[net->n_layers - 1];
}

/* Backward through every layer after plain_forward: grads += dL/dparams, p->dinput. */
static inline void plain_backward(const jc_net *net, const float *params, const float *x, const float *dlogits,
                                  float *grads, plain_net *p, jc_ctx ctx) {
  ctx.ws = p->scratch;
  const int L = net->n_layers;
  memset(p->got, 0, (size_t)L);
  memcpy(p->gout[L - 1], dlogits, (size_t)p->n * shape_size(net->layers[L - 1].out) * sizeof(float));
  for (int i = L - 1; i >= 0; i--) {
    const jc_layer *l = &net->layers[i];
    const float *in[LAYER_MAX_INPUTS];
    for (int s = 0; s < l->n_in; s++) in[s] = l->src[s] >= 0 ? p->act[l->src[s]] : x;
    ctx.saved = p->saved[i];
    layer_backward(l, params, in, p->act[i], p->gout[i], p->dx, grads, p->n, &ctx);
    for (int s = 0; s < l->n_in; s++) {
      const int src = l->src[s];
      float *to = src >= 0 ? p->gout[src] : p->dinput;
      const size_t len = (size_t)p->n * shape_size(l->in_shape[s]);
      if (src >= 0 && p->got[src]) {
        for (size_t j = 0; j < len; j++) to[j] += p->dx[s][j];
      } else {
        memcpy(to, p->dx[s], len * sizeof *to);
        if (src >= 0) p->got[src] = 1;
      }
    }
  }
}

#endif
