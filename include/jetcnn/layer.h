/* layer.h - the one interface every layer kind implements (src/layers/KIND.c).
 *
 * Layout: activations are NCHW float arrays, one sample after another; a vector of n
 * features is the shape (n,1,1). Parameters of all layers live in one contiguous float
 * array owned by the net; a layer's kernel starts at params + l->offset and its bias
 * follows the kernel. Gradients use the same layout in a second array.
 * Kernels are stored in PyTorch's order (conv (K,C,F,F), dense (out,in)), so weights
 * move between jetcnn and PyTorch unchanged.
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
  int training;          /* 1 during training steps (dropout active) */
  uint64_t seed;         /* run seed (dropout masks) */
  uint64_t step;         /* global optimizer step (dropout masks) */
  uint64_t first_sample; /* global index of the first sample of this micro-batch */
  float *ws;             /* scratch of layer_ws_floats(l, n) floats, owned by the caller */
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
};

/* One layer kind: its config section, its keys, and the functions every kind provides.
 * Adding a kind is one file in src/layers/ defining `const jc_layer_ops jc_KIND_ops` and
 * one row in the table of src/layers/registry.c. */
typedef struct {
  const char *section;       /* config section name, e.g. "conv" */
  const char *kind;          /* type shown by `summary`, e.g. "Conv2D" */
  const char *const *keys;   /* the keys the section accepts (NULL-terminated), besides the
                              * activation keys that LAYER_TAKES_ACTIVATION adds */
  unsigned flags;            /* LAYER_* above */
  int n_inputs;              /* tensors the layer reads: 1 (0 means 1); a layer with 2 (a
                              * residual shortcut) gets the second from the net's graph */
  /* Read this kind's keys from sec, check them against l->in, and fill l->out,
   * l->n_kernel, l->n_bias, l->kernel_shape, l->ws_*, l->flops and l->cfg (malloc'ed,
   * freed by the net). Errors name the config line (JC_ERR_USAGE). */
  jc_code (*init)(jc_layer *l, const jc_section *sec, jc_err *err);
  /* x (n, in) -> y (n, out). */
  void (*forward)(const jc_layer *l, const float *params, const float *x, float *y, int n,
                  const jc_ctx *ctx);
  /* Given x, y = forward(x) and dy = dL/dy: dx = dL/dx (overwritten; dx may be NULL for
   * the first layer) and grads += dL/dparams (accumulated: the caller zeroes once per step).
   * With l->relu_out, y and dy are those of the ReLU'd output (the layer masks dy by y > 0). */
  void (*backward)(const jc_layer *l, const float *params, const float *x, const float *y,
                   const float *dy, float *dx, float *grads, int n, const jc_ctx *ctx);
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
  jc_shape in, out;
  size_t n_kernel, n_bias;  /* parameter counts; 0 for layers without parameters */
  int kernel_ndims;         /* kernel shape in PyTorch's order */
  int kernel_shape[4];
  size_t offset;            /* kernel offset in the parameter array; bias at offset+n_kernel */
  size_t fan_in;            /* inputs per output unit (initialisation) */
  size_t ws_fixed, ws_per_sample; /* scratch floats: ws_fixed + n * ws_per_sample */
  double flops;             /* forward floating-point operations per sample (mul+add = 2) */
  char label[32];           /* extra summary text, e.g. the activation name */
  void *cfg;                /* kind-specific settings, owned */
};

static inline size_t layer_ws_floats(const jc_layer *l, int n) {
  return l->ws_fixed + (size_t)n * l->ws_per_sample;
}

/* ---- the table of layer kinds (src/layers/registry.c) ---- */

/* The ops for config section `name`, or NULL. */
const jc_layer_ops *layer_ops_for(const char *section_name);

/* The known layer sections as "[conv] [maxpool] ..." into buf (n bytes), for messages. */
void layer_sections_list(char *buf, size_t n);

/* Keys added to a section by LAYER_TAKES_ACTIVATION (NULL-terminated). */
extern const char *const LAYER_ACTIVATION_KEYS[];

/* The [activation] kind: net_create adds one after a section with `activation =`. */
extern const jc_layer_ops jc_activation_ops;

/* Activation functions shared by [activation] and the `activation =` key of conv/dense. */
typedef enum { ACT_NONE, ACT_RELU, ACT_LEAKY, ACT_SIGMOID, ACT_TANH, ACT_ELU, ACT_SOFTMAX } jc_act;

/* Names accepted by `activation =` (index = jc_act), NULL-terminated. */
extern const char *const JC_ACT_NAMES[];


/* For an activation layer: which function it applies (ACT_NONE for other layers). */
jc_act activation_kind(const jc_layer *l);

#endif
