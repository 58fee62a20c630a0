/* error.c - error values (see error.h). */
#include "jetcnn/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

jc_code jc_fail(jc_err *err, jc_code code, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->code = code;
  }
  return code;
}

jc_code jc_prefix(jc_err *err, const char *fmt, ...) {
  if (!err) return JC_ERR_RUNTIME;
  char prefix[JC_ERR_MSG_MAX], old[JC_ERR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, err->msg, sizeof old);
  snprintf(err->msg, sizeof err->msg, "%s%s", prefix, old);
  return err->code;
}

void jc_err_clear(jc_err *err) {
  if (!err) return;
  err->code = JC_OK;
  err->msg[0] = '\0';
}

void *jc_malloc_at(size_t bytes, jc_err *err, const char *file, int line) {
  void *p = malloc(bytes ? bytes : 1);
  if (!p) jc_fail(err, JC_ERR_NOMEM, "%s:%d: out of memory allocating %zu bytes", file, line, bytes);
  return p;
}

void *jc_calloc_at(size_t n, size_t size, jc_err *err, const char *file, int line) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p)
    jc_fail(err, JC_ERR_NOMEM, "%s:%d: out of memory allocating %zu x %zu bytes", file, line, n, size);
  return p;
}
