/* onnx_graph.c - the ONNX graph builder of onnx.h on the protobuf-c code that the build
 * generates from the ONNX schema (/usr/include/onnx/onnx.proto, CMakeLists.txt).
 *
 * Every message, string and array below is malloc'ed and reachable from one ModelProto, so
 * protobuf_c_message_free_unpacked() (which frees with free()) releases it all at once.
 * Arrays grow by doubling; protobuf-c only reads the n_* first elements.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jetcnn/onnx.h"
#include "onnx.pb-c.h"

struct jc_onnx_graph {
  Onnx__ModelProto *model; /* owns every proto object of the graph */
  Onnx__GraphProto *graph; /* model->graph */
  size_t cap_node, cap_init, cap_meta;
  char **names;            /* every tensor and node name handed out (owned copies) */
  size_t n_names, cap_names;
  char scope[64];
  jc_err err;              /* the first failure */
};

/* Record the first failure; later ones are consequences. */
static void fail(jc_onnx_graph *g, jc_code code, const char *fmt, ...) {
  if (g->err.code != JC_OK) return;
  va_list ap;
  va_start(ap, fmt);
  char msg[JC_ERR_MSG_MAX];
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  jc_fail(&g->err, code, "%s", msg);
}

static int ok(const jc_onnx_graph *g) { return g && g->err.code == JC_OK; }

static void *alloc(jc_onnx_graph *g, size_t bytes) {
  void *p = calloc(1, bytes ? bytes : 1);
  if (!p) fail(g, JC_ERR_NOMEM, "out of memory building the ONNX graph (%zu bytes)", bytes);
  return p;
}

static char *copy_str(jc_onnx_graph *g, const char *s) {
  char *c = strdup(s);
  if (!c) fail(g, JC_ERR_NOMEM, "out of memory building the ONNX graph");
  return c;
}

/* Make room for one more element in *arr (n used, *cap allocated); 0 on failure. */
static int grow(jc_onnx_graph *g, void *arr, size_t n, size_t *cap, size_t elem) {
  if (n < *cap) return 1;
  size_t cap2 = *cap ? 2 * *cap : 16;
  void *p = realloc(*(void **)arr, cap2 * elem);
  if (!p) {
    fail(g, JC_ERR_NOMEM, "out of memory building the ONNX graph");
    return 0;
  }
  *(void **)arr = p;
  *cap = cap2;
  return 1;
}

jc_onnx_graph *onnx_graph_create(const char *name, jc_err *err) {
  jc_onnx_graph *g = jc_calloc(1, sizeof *g, err);
  if (!g) return NULL;
  jc_err_clear(&g->err);
  g->model = alloc(g, sizeof *g->model);
  if (g->model) onnx__model_proto__init(g->model);
  g->graph = g->model ? alloc(g, sizeof *g->graph) : NULL;
  if (g->graph) {
    onnx__graph_proto__init(g->graph);
    g->model->graph = g->graph;
    g->graph->name = copy_str(g, name);
  }
  if (!ok(g)) {
    jc_fail(err, JC_ERR_NOMEM, "out of memory building the ONNX graph");
    onnx_graph_free(&g);
  }
  return g;
}

void onnx_graph_free(jc_onnx_graph **g) {
  if (!g || !*g) return;
  if ((*g)->model) protobuf_c_message_free_unpacked(&(*g)->model->base, NULL);
  for (size_t i = 0; i < (*g)->n_names; i++) free((*g)->names[i]);
  free((*g)->names);
  free(*g);
  *g = NULL;
}

jc_code onnx_status(const jc_onnx_graph *g, jc_err *err) {
  if (g->err.code == JC_OK) return JC_OK;
  return jc_fail(err, g->err.code, "%s", g->err.msg);
}

void onnx_scope(jc_onnx_graph *g, const char *scope) { snprintf(g->scope, sizeof g->scope, "%s", scope); }

int onnx_node_count(const jc_onnx_graph *g) { return (int)g->graph->n_node; }

static int name_taken(const jc_onnx_graph *g, const char *name) {
  for (size_t i = 0; i < g->n_names; i++)
    if (strcmp(g->names[i], name) == 0) return 1;
  return 0;
}

/* Register base (or base_2, base_3, ... when taken) and return the registered copy. */
static const char *unique_name(jc_onnx_graph *g, const char *base) {
  if (!ok(g)) return NULL;
  char name[160];
  snprintf(name, sizeof name, "%s", base);
  for (int k = 2; name_taken(g, name); k++) snprintf(name, sizeof name, "%s_%d", base, k);
  if (!grow(g, &g->names, g->n_names, &g->cap_names, sizeof *g->names)) return NULL;
  char *c = copy_str(g, name);
  if (!c) return NULL;
  g->names[g->n_names++] = c;
  return c;
}

static const char *scoped_name(jc_onnx_graph *g, const char *what) {
  char base[160];
  if (g->scope[0]) snprintf(base, sizeof base, "%s/%s", g->scope, what);
  else snprintf(base, sizeof base, "%s", what);
  return unique_name(g, base);
}

const char *onnx_tensor(jc_onnx_graph *g, const char *what) { return ok(g) ? scoped_name(g, what) : NULL; }

/* copies of names[0 .. n-1] into a new array; NULL on failure */
static char **copy_names(jc_onnx_graph *g, const char *const *names, int n) {
  char **a = alloc(g, (size_t)n * sizeof *a);
  for (int i = 0; a && i < n; i++) {
    if (!names[i]) {
      fail(g, JC_ERR_RUNTIME, "ONNX node input %d has no name", i);
      return a;
    }
    a[i] = copy_str(g, names[i]);
  }
  return a;
}

const char *onnx_node(jc_onnx_graph *g, const char *op_type, const char *const *inputs, int n_inputs,
                      const char *output) {
  if (!ok(g)) return NULL;
  if (!output) {
    fail(g, JC_ERR_RUNTIME, "ONNX node %s has no output name", op_type);
    return NULL;
  }
  Onnx__GraphProto *gr = g->graph;
  if (!grow(g, &gr->node, gr->n_node, &g->cap_node, sizeof *gr->node)) return NULL;
  Onnx__NodeProto *n = alloc(g, sizeof *n);
  if (!n) return NULL;
  onnx__node_proto__init(n);
  gr->node[gr->n_node++] = n; /* owned by the model from here on, even if filling it fails */
  n->op_type = copy_str(g, op_type);
  const char *name = scoped_name(g, op_type);
  if (name) n->name = copy_str(g, name);
  n->input = copy_names(g, inputs, n_inputs);
  if (n->input) n->n_input = (size_t)n_inputs;
  n->output = copy_names(g, &output, 1);
  if (n->output) n->n_output = 1;
  return ok(g) ? output : NULL;
}

/* A new attribute of the node added last; NULL on failure. */
static Onnx__AttributeProto *new_attr(jc_onnx_graph *g, const char *name, Onnx__AttributeProto__AttributeType type) {
  if (!ok(g)) return NULL;
  if (g->graph->n_node == 0) {
    fail(g, JC_ERR_RUNTIME, "ONNX attribute %s set before any node", name);
    return NULL;
  }
  Onnx__NodeProto *n = g->graph->node[g->graph->n_node - 1];
  Onnx__AttributeProto **a = realloc(n->attribute, (n->n_attribute + 1) * sizeof *a);
  if (!a) {
    fail(g, JC_ERR_NOMEM, "out of memory building the ONNX graph");
    return NULL;
  }
  n->attribute = a;
  Onnx__AttributeProto *at = alloc(g, sizeof *at);
  if (!at) return NULL;
  onnx__attribute_proto__init(at);
  a[n->n_attribute++] = at;
  at->name = copy_str(g, name);
  at->has_type = 1;
  at->type = type;
  return at;
}

void onnx_attr_int(jc_onnx_graph *g, const char *name, int64_t value) {
  Onnx__AttributeProto *at = new_attr(g, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
  if (!at) return;
  at->has_i = 1;
  at->i = value;
}

void onnx_attr_float(jc_onnx_graph *g, const char *name, float value) {
  Onnx__AttributeProto *at = new_attr(g, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
  if (!at) return;
  at->has_f = 1;
  at->f = value;
}

void onnx_attr_ints(jc_onnx_graph *g, const char *name, const int64_t *values, int n) {
  Onnx__AttributeProto *at = new_attr(g, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
  if (!at) return;
  at->ints = alloc(g, (size_t)n * sizeof *at->ints);
  if (!at->ints) return;
  memcpy(at->ints, values, (size_t)n * sizeof *at->ints);
  at->n_ints = (size_t)n;
}

const char *onnx_const(jc_onnx_graph *g, const char *what, jc_onnx_type type, const void *data,
                       const int64_t *dims, int n_dims) {
  if (!ok(g)) return NULL;
  size_t count = 1;
  for (int i = 0; i < n_dims; i++) {
    if (dims[i] < 0) {
      fail(g, JC_ERR_RUNTIME, "ONNX constant %s: negative dimension", what);
      return NULL;
    }
    count *= (size_t)dims[i];
  }
  Onnx__GraphProto *gr = g->graph;
  if (!grow(g, &gr->initializer, gr->n_initializer, &g->cap_init, sizeof *gr->initializer)) return NULL;
  Onnx__TensorProto *t = alloc(g, sizeof *t);
  if (!t) return NULL;
  onnx__tensor_proto__init(t);
  gr->initializer[gr->n_initializer++] = t;
  const char *name = scoped_name(g, what);
  if (name) t->name = copy_str(g, name);
  t->dims = alloc(g, (size_t)n_dims * sizeof *t->dims);
  if (t->dims) {
    if (n_dims) memcpy(t->dims, dims, (size_t)n_dims * sizeof *t->dims);
    t->n_dims = (size_t)n_dims;
  }
  t->has_data_type = 1;
  t->data_type = (int32_t)type;
  switch (type) {
    case ONNX_FLOAT:
      if ((t->float_data = alloc(g, count * sizeof(float)))) {
        memcpy(t->float_data, data, count * sizeof(float));
        t->n_float_data = count;
      }
      break;
    case ONNX_INT64:
      if ((t->int64_data = alloc(g, count * sizeof(int64_t)))) {
        memcpy(t->int64_data, data, count * sizeof(int64_t));
        t->n_int64_data = count;
      }
      break;
    case ONNX_DOUBLE:
      if ((t->double_data = alloc(g, count * sizeof(double)))) {
        memcpy(t->double_data, data, count * sizeof(double));
        t->n_double_data = count;
      }
      break;
  }
  return ok(g) ? name : NULL;
}

/* A ValueInfoProto for a graph input or output; NULL on failure. */
static Onnx__ValueInfoProto *value_info(jc_onnx_graph *g, const char *name, jc_onnx_type type, const int64_t *dims,
                                        int n_dims) {
  Onnx__ValueInfoProto *v = alloc(g, sizeof *v);
  if (!v) return NULL;
  onnx__value_info_proto__init(v);
  v->name = copy_str(g, name);
  Onnx__TypeProto *tp = v->type = alloc(g, sizeof *tp);
  if (!tp) return v;
  onnx__type_proto__init(tp);
  Onnx__TypeProto__Tensor *tt = alloc(g, sizeof *tt);
  if (!tt) return v;
  onnx__type_proto__tensor__init(tt);
  tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
  tp->tensor_type = tt;
  tt->has_elem_type = 1;
  tt->elem_type = (int32_t)type;
  Onnx__TensorShapeProto *sh = tt->shape = alloc(g, sizeof *sh);
  if (!sh) return v;
  onnx__tensor_shape_proto__init(sh);
  sh->dim = alloc(g, (size_t)n_dims * sizeof *sh->dim);
  for (int i = 0; sh->dim && i < n_dims; i++) {
    Onnx__TensorShapeProto__Dimension *d = alloc(g, sizeof *d);
    if (!d) break;
    onnx__tensor_shape_proto__dimension__init(d);
    sh->dim[sh->n_dim++] = d;
    if (dims[i] < 0) {
      d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
      d->dim_param = copy_str(g, "N");
    } else {
      d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
      d->dim_value = dims[i];
    }
  }
  return v;
}

/* Append v to the input (is_input) or output list of the graph. */
static void add_io(jc_onnx_graph *g, int is_input, const char *name, jc_onnx_type type, const int64_t *dims,
                   int n_dims) {
  if (!ok(g)) return;
  if (name_taken(g, name)) {
    fail(g, JC_ERR_RUNTIME, "ONNX graph %s %s: the name is taken", is_input ? "input" : "output", name);
    return;
  }
  if (!unique_name(g, name)) return;
  Onnx__GraphProto *gr = g->graph;
  size_t *n = is_input ? &gr->n_input : &gr->n_output;
  Onnx__ValueInfoProto ***list = is_input ? &gr->input : &gr->output;
  Onnx__ValueInfoProto **l = realloc(*list, (*n + 1) * sizeof **list);
  if (!l) {
    fail(g, JC_ERR_NOMEM, "out of memory building the ONNX graph");
    return;
  }
  *list = l;
  Onnx__ValueInfoProto *v = value_info(g, name, type, dims, n_dims);
  if (v) l[(*n)++] = v;
}

void onnx_graph_input(jc_onnx_graph *g, const char *name, jc_onnx_type type, const int64_t *dims, int n_dims) {
  add_io(g, 1, name, type, dims, n_dims);
}

void onnx_graph_output(jc_onnx_graph *g, const char *name, jc_onnx_type type, const int64_t *dims, int n_dims) {
  add_io(g, 0, name, type, dims, n_dims);
}

void onnx_metadata(jc_onnx_graph *g, const char *key, const char *value) {
  if (!ok(g)) return;
  Onnx__ModelProto *m = g->model;
  if (!grow(g, &m->metadata_props, m->n_metadata_props, &g->cap_meta, sizeof *m->metadata_props)) return;
  Onnx__StringStringEntryProto *e = alloc(g, sizeof *e);
  if (!e) return;
  onnx__string_string_entry_proto__init(e);
  m->metadata_props[m->n_metadata_props++] = e;
  e->key = copy_str(g, key);
  e->value = copy_str(g, value);
}

/* Fill the model's header fields (once). */
static void model_header(jc_onnx_graph *g) {
  Onnx__ModelProto *m = g->model;
  if (m->n_opset_import) return;
  m->has_ir_version = 1;
  m->ir_version = JC_ONNX_IR_VERSION;
  m->producer_name = copy_str(g, "jetcnn");
  m->producer_version = copy_str(g, JETCNN_VERSION);
  m->opset_import = alloc(g, sizeof *m->opset_import);
  Onnx__OperatorSetIdProto *op = m->opset_import ? alloc(g, sizeof *op) : NULL;
  if (!op) return;
  onnx__operator_set_id_proto__init(op);
  op->domain = copy_str(g, "");
  op->has_version = 1;
  op->version = JC_ONNX_OPSET;
  m->opset_import[0] = op;
  m->n_opset_import = 1;
}

jc_code onnx_graph_pack(jc_onnx_graph *g, uint8_t **bytes, size_t *n_bytes, jc_err *err) {
  *bytes = NULL;
  *n_bytes = 0;
  model_header(g);
  JC_TRY(onnx_status(g, err));
  size_t n = protobuf_c_message_get_packed_size(&g->model->base);
  if (n > 0x7fffffffu)
    return jc_fail(err, JC_ERR_RUNTIME, "the ONNX model would take %zu bytes, more than protobuf's 2 GiB", n);
  uint8_t *buf = jc_malloc(n + 1, err);
  if (!buf) return JC_ERR_NOMEM;
  size_t written = protobuf_c_message_pack(&g->model->base, buf);
  if (written != n) {
    free(buf);
    return jc_fail(err, JC_ERR_RUNTIME, "protobuf-c packed %zu bytes of the ONNX model, expected %zu", written, n);
  }
  *bytes = buf;
  *n_bytes = n;
  return JC_OK;
}
