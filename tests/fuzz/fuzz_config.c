/* fuzz_config.c - libFuzzer target: arbitrary bytes as config text, then the net built from it.
 *
 * Every input must end in JC_OK or a clean error value; a crash, leak, sanitizer report or
 * an error without a message is a bug. Seeds: the configs in configs/ and those the
 * bad-input table writes (tests/fuzz/make_seeds.py).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jetcnn/config.h"
#include "jetcnn/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = '\0'; /* an embedded NUL ends the text, as it would for a C string */
  jc_err err;
  jc_err_clear(&err);
  jc_config *cfg = NULL;
  jc_code rc = config_parse_text(text, "fuzz.cfg", &cfg, &err);
  if (rc == JC_OK) {
    char *again = config_to_text(cfg, &err); /* what train records in the run directory */
    free(again);
    jc_net *net = NULL;
    rc = net_create(cfg, &net, &err); /* takes cfg, also on failure */
    net_free(&net);
  }
  if (rc != JC_OK && err.msg[0] == '\0') {
    fprintf(stderr, "fuzz_config: error %d without a message\n", (int)rc);
    abort();
  }
  free(text);
  return 0;
}
