/* gen_check.h - CHECK for the generator's unit tests (one test program per file): a failed
 * check counts, says where and why, and the program goes on; check_report gives the verdict. */
#ifndef JETCNN_TESTS_GEN_CHECK_H
#define JETCNN_TESTS_GEN_CHECK_H

#include <stdio.h>

static int failures = 0;
#define CHECK(cond, ...)                                    \
  do {                                                      \
    if (!(cond)) {                                          \
      failures++;                                           \
      fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__); \
      fprintf(stderr, __VA_ARGS__);                         \
      fprintf(stderr, "\n");                                \
    }                                                       \
  } while (0)

/* Print the verdict of test program `name`; returns its exit code. */
static int check_report(const char *name) {
  if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
  else printf("%s: all checks passed\n", name);
  return failures ? 1 : 0;
}

#endif
