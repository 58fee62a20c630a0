/* error.h - errors are values: a status code plus a message that names the place.
 *
 * Every function that can fail takes a `jc_err *err` as its last argument, returns a
 * jc_code (0 = JC_OK), and on failure fills err with a message such as
 * "configs/x.cfg:12: filters must be >= 1" or "train.h5: dataset /labels: ...".
 * Only main() turns a code into an exit status.
 */
#ifndef JETCNN_ERROR_H
#define JETCNN_ERROR_H

#include <stddef.h>

/* Exit codes; documented in README "Exit codes". */
typedef enum {
  JC_OK = 0,
  JC_ERR_RUNTIME = 1,  /* internal failure, MPI failure, non-finite loss */
  JC_ERR_USAGE = 2,    /* bad command line or bad config file */
  JC_ERR_DATA = 3,     /* unreadable or invalid input data (HDF5) */
  JC_ERR_IO = 4,       /* cannot write output (permissions, disk full) */
  JC_ERR_NOMEM = 5,    /* allocation failed */
  JC_EXIT_REQUEUE = 75 /* checkpointed on a signal; please requeue (EX_TEMPFAIL) */
} jc_code;

#define JC_ERR_MSG_MAX 1024

typedef struct {
  jc_code code;
  char msg[JC_ERR_MSG_MAX];
} jc_err;

/* Set err to (code, printf-style message) and return code. err may be NULL. */
jc_code jc_fail(jc_err *err, jc_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix the message already in err with more context ("rank 3: " ...); returns err->code. */
jc_code jc_prefix(jc_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Clear err to JC_OK and an empty message. */
void jc_err_clear(jc_err *err);

/* malloc/calloc that fill err on failure (message names the caller's file:line and the size).
 * The caller owns the returned memory and frees it with free(). */
void *jc_malloc_at(size_t bytes, jc_err *err, const char *file, int line);
void *jc_calloc_at(size_t n, size_t size, jc_err *err, const char *file, int line);
#define jc_malloc(bytes, err) jc_malloc_at((bytes), (err), __FILE__, __LINE__)
#define jc_calloc(n, size, err) jc_calloc_at((n), (size), (err), __FILE__, __LINE__)

/* Return from the calling function if expression `rc` (a jc_code) failed. */
#define JC_TRY(rc)                   \
  do {                               \
    jc_code jc_try_rc_ = (rc);       \
    if (jc_try_rc_ != JC_OK) return jc_try_rc_; \
  } while (0)

#endif
