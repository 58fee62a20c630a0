/* registry.c - the table of layer kinds: config section name -> ops (layer.h). Adding a kind
 * is its own file in src/layers/ plus one row here. */
#include <stdio.h>
#include <string.h>

#include "jetcnn/layer.h"

extern const jc_layer_ops jc_conv_ops, jc_maxpool_ops, jc_avgpool_ops, jc_dense_ops, jc_dropout_ops,
    jc_flatten_ops, jc_maxout_ops;

static const jc_layer_ops *const LAYER_KINDS[] = {
    &jc_conv_ops,    &jc_maxpool_ops,    &jc_avgpool_ops, &jc_dense_ops, &jc_dropout_ops,
    &jc_flatten_ops, &jc_activation_ops, &jc_maxout_ops,
};
enum { N_KINDS = (int)(sizeof LAYER_KINDS / sizeof LAYER_KINDS[0]) };

const char *const LAYER_ACTIVATION_KEYS[] = {"activation", "slope", "alpha", NULL};

const jc_layer_ops *layer_ops_for(const char *section_name) {
  for (int i = 0; i < N_KINDS; i++)
    if (strcmp(LAYER_KINDS[i]->section, section_name) == 0) return LAYER_KINDS[i];
  return NULL;
}

void layer_sections_list(char *buf, size_t n) {
  if (n == 0) return;
  buf[0] = '\0';
  for (int i = 0; i < N_KINDS; i++) {
    size_t len = strlen(buf);
    snprintf(buf + len, n - len, "%s[%s]", i ? " " : "", LAYER_KINDS[i]->section);
  }
}
