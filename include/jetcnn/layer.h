/* layer.h - the one interface every layer kind implements (src/layers/KIND.c).
 *
 * Layout: activations are NCHW float arrays, one sample after another; a vector of n
 * features is the shape (n,1,1). Parameters of all layers live in one contiguous float
 * array owned by the net; a layer's kernel starts at params + l->offset and its bias
 * follows the kernel. Gradients use the same layout in a second array.
 * Kernels are stored in PyTorch's order (conv (K,C,F,F), dense (out,in)), so weights
 * move between jetcnn and PyTorch unchanged. Non-trainable state (batch norm's running
 * statistics) lives in a third array, the net's state, at l->state_offset.
 *
 * The net is a graph: a layer reads the output of the layer before it (l->src[0]), and a
 * multi-input kind (n_inputs = 2, the residual [shortcut]) also that of an earlier section
 * (l->src[1], from its `from` key). Single-input kinds implement forward/backward on one x and
 * one dx; multi-input kinds implement forward_multi/backward_multi on arrays x[s], dx[s];
 * layer_forward/layer_backward call either. Every output stays alive until backward is done,
 * and the gradient of an output read by several layers is their sum (net_backward).
 */
#ifndef JETCNN_LAYER_H
#define JETCNN_LAYER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "jetcnn/config.h"
#include "jetcnn/error.h"
#include "jetcnn/shape.h"

/* What a forward/backward call may need besides its tensors. */
typedef struct {
  int training;          /* 1 during training steps (dropout active, batch norm over the micro-batch) */
  uint64_t seed;         /* run seed (dropout masks) */
  uint64_t step;         /* global optimizer step (dropout masks) */
  uint64_t first_sample; /* global index of the first sample of this micro-batch */
  float *ws;             /* scratch of layer_ws_floats(l, n) floats, owned by the caller */
  const float *state;    /* the net's non-trainable state (n_state floats: batch norm's running
                          * statistics), read in inference mode; may be NULL for nets without */
  float *batch_stats;    /* training, or NULL: where this micro-batch's batch statistics go
                          * (n_batch_stats floats; a layer writes n_stats at l->stats_offset) */
  float *saved;          /* l->ws_saved floats of this layer, kept from its forward to its backward
                          * on the same micro-batch (owned by the caller's workspace; the net's
                          * functions set it per layer) */
} jc_ctx;

typedef struct jc_layer jc_layer;
typedef struct jc_onnx_graph jc_onnx_graph; /* the ONNX graph being written (export) */

/* What a layer kind can do besides its own computation (jc_layer_ops.flags). */
enum {
  /* The section takes `activation =` (and its `slope`, `alpha`): net_create adds an
   * [activation] layer right after it (fused = 1). */
  LAYER_TAKES_ACTIVATION = 1u << 0,
  /* Can apply a ReLU that follows it itself (relu_out): forward writes max(0, z), backward
   * masks dy by y > 0. */
  LAYER_FUSES_RELU = 1u << 1,
  /* With relu_out: can take a dy that the next layer already masked (dy_masked). */
  LAYER_TAKES_MASKED_DY = 1u << 2,
  /* After a fused ReLU: backward can route dy only where the ReLU passed (relu_in), masking
   * it for the layer before. */
  LAYER_MASKS_RELU = 1u << 3,
  /* The section takes `batch_normalize = 1` (and `bn_momentum`, `bn_epsilon`): net_create adds a
   * [batchnorm] layer right after it, before its activation, and the layer gets no bias
   * (no_bias: the norm's shift replaces it). Its kernel's leading dimension is the output
   * channel, so an inference net can fold a following norm into it (net_create_inference). */
  LAYER_TAKES_BATCHNORM = 1u << 4,
  /* At inference the layer is a per-channel affine map y = a_c x + b_c (ops->affine): folded
   * into a LAYER_TAKES_BATCHNORM layer before it when nothing else reads that layer's output,
   * else run as `affine` with a and b as its kernel and bias. */
  LAYER_AFFINE_AT_INFERENCE = 1u << 5,
};

/* Inputs a layer can have (a residual shortcut: 2). */
#define LAYER_MAX_INPUTS 2

/* One layer kind: its config section, its keys, and the functions every kind provides.
 * Adding a kind is one file in src/layers/ defining `const jc_layer_ops jc_KIND_ops` and
 * one row in the table of src/layers/registry.c. */
typedef struct {
  const char *section;       /* config section name, e.g. "conv" */
  const char *kind;          /* type shown by `summary`, e.g. "Conv2D" */
  const char *const *keys;   /* the keys the section accepts (NULL-terminated), besides the
                              * activation keys that LAYER_TAKES_ACTIVATION adds */
  unsigned flags;            /* LAYER_* above */
  int n_inputs;              /* tensors the layer reads: 1 (0 means 1), or 2: the second is the
                              * output of the section named by the key `from` (-k: k sections
                              * back), resolved by net_create (l->src, l->in_shape) before init */
  const char *kernel_name, *bias_name; /* checkpoint dataset names of the two parameter tensors
                                        * (NULL: "kernel", "bias") */
  const char *const *state_names;      /* NULL-terminated names of the state tensors (n_state
                                        * floats in equal 1-D parts), or NULL */
  /* Read this kind's keys from sec, check them against l->in, and fill l->out,
   * l->n_kernel, l->n_bias, l->kernel_shape, l->ws_*, l->flops and l->cfg (malloc'ed,
   * freed by the net). Errors name the config line (JC_ERR_USAGE). */
  jc_code (*init)(jc_layer *l, const jc_section *sec, jc_err *err);
  /* Single-input kinds. x (n, in) -> y (n, out). */
  void (*forward)(const jc_layer *l, const float *params, const float *x, float *y, int n,
                  const jc_ctx *ctx);
  /* Given x, y = forward(x) and dy = dL/dy: dx = dL/dx (overwritten; dx may be NULL for
   * the first layer) and grads += dL/dparams (accumulated: the caller zeroes once per step).
   * With l->relu_out, y and dy are those of the ReLU'd output (the layer masks dy by y > 0). */
  void (*backward)(const jc_layer *l, const float *params, const float *x, const float *y,
                   const float *dy, float *dx, float *grads, int n, const jc_ctx *ctx);
  /* Multi-input kinds (n_inputs > 1) provide these instead: x[s] is input s (n, in_shape[s]),
   * dx[s] its gradient (overwritten; NULL when not wanted). The net sums the gradients of an
   * output that several layers read, in a fixed order (net_backward). */
  void (*forward_multi)(const jc_layer *l, const float *params, const float *const *x, float *y, int n,
                        const jc_ctx *ctx);
  void (*backward_multi)(const jc_layer *l, const float *params, const float *const *x, const float *y,
                         const float *dy, float *const *dx, float *grads, int n, const jc_ctx *ctx);
  /* Initial parameters of the layer (params + l->offset), or NULL: kernel and bias uniform in
   * +-1/sqrt(fan_in) (net_init_params). */
  void (*init_params)(const jc_layer *l, float *params);
  /* Layers with state (n_state > 0): its initial value (state + l->state_offset), and one
   * update from a training micro-batch of n samples whose batch statistics (n_stats floats,
   * as forward wrote them) are `stats`. */
  void (*init_state)(const jc_layer *l, float *state);
  void (*update_state)(const jc_layer *l, float *state, const float *stats, int n);
  /* LAYER_AFFINE_AT_INFERENCE: the inference map y = a_c x + b_c of channel c (l->in.c values
   * each) from the parameters and the state. */
  void (*affine)(const jc_layer *l, const float *params, const float *state, float *a, float *b);
  /* Append to g the ONNX nodes (and initializers from params) that compute the tensor named
   * y from the tensors named x[0 .. n_inputs-1] (NCHW float); NULL: the kind cannot be
   * exported yet. */
  jc_code (*export_onnx)(const jc_layer *l, const float *params, jc_onnx_graph *g, const char *const *x,
                         const char *y, jc_err *err);
} jc_layer_ops;

struct jc_layer {
  const jc_layer_ops *ops;
  int index;            /* zero-based index of the layer's config section: /weights/layerNN */
  const char *path;     /* config file, borrowed from the config (for messages) */
  int line;             /* line of the section header */
  int fused;            /* 1: an activation given by `activation =` in the previous section */
  int relu_out;         /* 1 (LAYER_FUSES_RELU; set by net_create when a fused ReLU follows): forward
                         * writes max(0, z) itself, backward masks dy by y > 0, and
                         * net_forward/net_backward skip the ReLU layer, whose output buffer
                         * is this layer's. Running the ReLU layer anyway changes nothing. */
  int dy_masked;        /* 1 (with relu_out; set by net_create when a LAYER_MASKS_RELU kind follows the ReLU):
                         * the dy backward gets is already +0 where y <= 0 (the pool's
                         * relu_in), so the layer does not mask it again. */
  int relu_in;          /* 1 (LAYER_MASKS_RELU kind after a fused ReLU, set by net_create): backward routes dy
                         * only to window maxima > 0, giving the ReLU's mask with it. */
  int no_bias;          /* 1 (LAYER_TAKES_BATCHNORM, set by net_create before init): a batch norm
                         * follows, the layer has no bias (n_bias = 0) */
  int affine;           /* 1 (LAYER_AFFINE_AT_INFERENCE in an inference net, set before init): the
                         * layer computes y = kernel_c x + bias_c (its folded inference map) */
  int skip;             /* 1 (set by net_create): the layer runs inside the one it reads (a fused ReLU
                         * applied by relu_out, a batch norm folded into the layer before in an
                         * inference net); its output buffer is that layer's, and net_forward and
                         * net_backward pass over it */
  int readers;          /* layers that read this output (set by net_create) */
  int n_in;             /* inputs: 1, or ops->n_inputs */
  int src[LAYER_MAX_INPUTS]; /* the layer whose output is input s (index into the net's layers;
                              * -1: the net's input). A single-input layer reads the one before. */
  jc_shape in_shape[LAYER_MAX_INPUTS]; /* the inputs' shapes; in == in_shape[0] */
  jc_shape in, out;
  size_t n_kernel, n_bias;  /* parameter counts; 0 for layers without parameters */
  int kernel_ndims;         /* kernel shape in PyTorch's order */
  int kernel_shape[4];
  size_t offset;            /* kernel offset in the parameter array; bias at offset+n_kernel */
  size_t fan_in;            /* inputs per output unit (initialisation) */
  size_t ws_fixed, ws_per_sample; /* scratch floats: ws_fixed + n * ws_per_sample */
  size_t ws_saved;                /* floats kept from forward to backward (ctx->saved; batch norm:
                                   * the micro-batch's mean and 1/std per channel) */
  size_t n_state, state_offset;   /* non-trainable state (running statistics): floats, and their
                                   * offset in the net's state array */
  size_t n_stats, stats_offset;   /* batch statistics one training micro-batch writes (ctx) */
  double flops;             /* forward floating-point operations per sample (mul+add = 2) */
  char label[32];           /* extra summary text, e.g. the activation name */
  void *cfg;                /* kind-specific settings, owned */
};

static inline size_t layer_ws_floats(const jc_layer *l, int n) {
  return l->ws_fixed + (size_t)n * l->ws_per_sample;
}

/* The layer's bias (params + offset + n_kernel), or NULL when it has none (no_bias). */
static inline const float *layer_bias(const jc_layer *l, const float *params) {
  return l->n_bias ? params + l->offset + l->n_kernel : NULL;
}

/* Forward / backward of any kind: x[s] and dx[s] per input (single-input kinds get x[0], dx[0]). */
static inline void layer_forward(const jc_layer *l, const float *params, const float *const *x, float *y, int n,
                                 const jc_ctx *ctx) {
  if (l->ops->forward_multi) l->ops->forward_multi(l, params, x, y, n, ctx);
  else l->ops->forward(l, params, x[0], y, n, ctx);
}
static inline void layer_backward(const jc_layer *l, const float *params, const float *const *x, const float *y,
                                  const float *dy, float *const *dx, float *grads, int n, const jc_ctx *ctx) {
  if (l->ops->backward_multi) l->ops->backward_multi(l, params, x, y, dy, dx, grads, n, ctx);
  else l->ops->backward(l, params, x[0], y, dy, dx[0], grads, n, ctx);
}

/* ---- the table of layer kinds (src/layers/registry.c) ---- */

/* The ops for config section `name`, or NULL. */
const jc_layer_ops *layer_ops_for(const char *section_name);

/* The known layer sections as "[conv] [maxpool] ..." into buf (n bytes), for messages. */
void layer_sections_list(char *buf, size_t n);

/* Keys added to a section by LAYER_TAKES_ACTIVATION (NULL-terminated). */
extern const char *const LAYER_ACTIVATION_KEYS[];

/* Keys added to a section by LAYER_TAKES_BATCHNORM (NULL-terminated). */
extern const char *const LAYER_BATCHNORM_KEYS[];

/* The [activation] kind: net_create adds one after a section with `activation =`. */
extern const jc_layer_ops jc_activation_ops;

/* The [batchnorm] kind: net_create adds one after a section with `batch_normalize = 1`. */
extern const jc_layer_ops jc_batchnorm_ops;

/* Activation functions shared by [activation] and the `activation =` key of conv/dense. */
typedef enum { ACT_NONE, ACT_RELU, ACT_LEAKY, ACT_SIGMOID, ACT_TANH, ACT_ELU, ACT_SOFTMAX } jc_act;

/* Names accepted by `activation =` (index = jc_act), NULL-terminated. */
extern const char *const JC_ACT_NAMES[];


/* For an activation layer: which function it applies (ACT_NONE for other layers). */
jc_act activation_kind(const jc_layer *l);

#endif
