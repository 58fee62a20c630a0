/* onnx.h - a trained net as an ONNX model (docs/formats.md, "ONNX model"), and the small
 * graph builder every layer kind's export_onnx (layer.h) writes its nodes with.
 *
 * The model: opset JC_ONNX_OPSET of the default ONNX domain, IR version 7. One input
 * `images`, float32 (N, H, W) when the model has one channel and (N, H, W, C) otherwise:
 * the raw pixels exactly as the input files store them. One output `probs`, float32
 * (N, K): the class probabilities `jetcnn predict` writes. N is a dynamic dimension. The
 * input normalisation (normalize, input_scale), the change to NCHW, every layer and the
 * output head are nodes of the graph.
 *
 * The builder. Tensors between layers are float32 NCHW (N, C, H, W); a vector of n features
 * is (N, n, 1, 1), as in layer.h. A layer's export function gets the names of its input
 * tensors and of the output tensor it must produce, and adds nodes and initializers:
 *
 *   const char *w = onnx_const(g, "W", ONNX_FLOAT, kernel, (int64_t[]){K, C, F, F}, 4);
 *   onnx_node(g, "Conv", (const char *[]){x[0], w, b}, 3, y);
 *   onnx_attr_ints(g, "pads", (int64_t[]){top, left, bottom, right}, 4);
 *   return onnx_status(g, err);
 *
 * Errors: the graph keeps its first failure (out of memory, an attribute without a node);
 * every builder call after it does nothing and returns NULL, and onnx_status() returns it.
 * So an export function calls the builder in a row and ends with onnx_status(). Names the
 * builder returns are owned by the graph and stay valid until onnx_graph_free().
 */
#ifndef JETCNN_ONNX_H
#define JETCNN_ONNX_H

#include <stddef.h>
#include <stdint.h>

#include "jetcnn/error.h"
#include "jetcnn/layer.h"
#include "jetcnn/net.h"

#define JC_ONNX_OPSET 13
#define JC_ONNX_IR_VERSION 7 /* the IR version of opset 13 (ONNX 1.8) */

/* Element types (the values of ONNX's TensorProto.DataType). */
typedef enum { ONNX_FLOAT = 1, ONNX_INT64 = 7, ONNX_DOUBLE = 11 } jc_onnx_type;

/* ---- exporting a net ---- */

/* What onnx_export_net wrote. */
typedef struct {
  int n_nodes;
  size_t n_bytes;  /* size of the model file */
} jc_onnx_info;

/* Write net with its weights params (net->n_params floats) to path as an ONNX model,
 * atomically (PATH.tmp, fsync, rename). source names the checkpoint the weights come from
 * (recorded in the model's metadata; may be NULL); path must not be that same file
 * (JC_ERR_USAGE). Local to the calling process (no MPI). info may be NULL. Errors:
 * JC_ERR_IO (cannot write path), JC_ERR_USAGE (a layer kind without an export function),
 * JC_ERR_NOMEM. */
jc_code onnx_export_net(const jc_net *net, const float *params, const char *path, const char *source,
                        jc_onnx_info *info, jc_err *err);

/* ---- the graph builder ---- */

/* An empty graph named name; NULL (err set) when out of memory. Owned by the caller
 * (onnx_graph_free). */
jc_onnx_graph *onnx_graph_create(const char *name, jc_err *err);
void onnx_graph_free(jc_onnx_graph **g);

/* The graph's first failure copied into err (JC_OK when there is none). */
jc_code onnx_status(const jc_onnx_graph *g, jc_err *err);

/* Name prefix of the tensors and nodes added from now on ("l3_conv" gives "l3_conv/W"). */
void onnx_scope(jc_onnx_graph *g, const char *scope);

/* A fresh tensor name "SCOPE/what", unique in the graph (a number appended when taken),
 * for a layer's intermediate results. */
const char *onnx_tensor(jc_onnx_graph *g, const char *what);

/* Append the node op_type(inputs[0 .. n_inputs-1]) -> output of the default domain (an
 * empty input name is an omitted optional input). Returns output. Nodes must be added in
 * an order where every input already exists (topological). */
const char *onnx_node(jc_onnx_graph *g, const char *op_type, const char *const *inputs, int n_inputs,
                      const char *output);

/* Attributes of the node added last. */
void onnx_attr_int(jc_onnx_graph *g, const char *name, int64_t value);
void onnx_attr_float(jc_onnx_graph *g, const char *name, float value);
void onnx_attr_ints(jc_onnx_graph *g, const char *name, const int64_t *values, int n);

/* A constant tensor (an initializer) named "SCOPE/what": type's values from data (float,
 * int64_t or double; copied) with dims[0 .. n_dims-1] (n_dims = 0: a scalar). Returns its
 * name. */
const char *onnx_const(jc_onnx_graph *g, const char *what, jc_onnx_type type, const void *data,
                       const int64_t *dims, int n_dims);

/* A graph input or output named name (exactly, no scope) of type with dims; a negative
 * dim is the dynamic batch dimension "N". */
void onnx_graph_input(jc_onnx_graph *g, const char *name, jc_onnx_type type, const int64_t *dims, int n_dims);
void onnx_graph_output(jc_onnx_graph *g, const char *name, jc_onnx_type type, const int64_t *dims, int n_dims);

/* A key/value pair of the model's metadata_props. */
void onnx_metadata(jc_onnx_graph *g, const char *key, const char *value);

/* Number of nodes added so far. */
int onnx_node_count(const jc_onnx_graph *g);

/* The model (IR JC_ONNX_IR_VERSION, opset JC_ONNX_OPSET, producer "jetcnn") serialized:
 * *bytes (*n_bytes long) malloc'ed, owned by the caller. Fails with the graph's first
 * failure, or JC_ERR_RUNTIME when the model exceeds protobuf's 2 GiB. */
jc_code onnx_graph_pack(jc_onnx_graph *g, uint8_t **bytes, size_t *n_bytes, jc_err *err);

#endif
