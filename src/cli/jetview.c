/* jetview.c - progress lines of generate and images (see jetview.h). */
#include "jetview.h"

#include <stdio.h>

void jetview_progress(const char *verb, const produce_event *ev) {
  const unsigned long long done = ev->done, total = ev->n_jets;
  double rate = ev->seconds > 0.0 ? (double)done / ev->seconds : 0.0;
  double eta = rate > 0.0 ? (double)(total - done) / rate : 0.0;
  printf("%s %llu/%llu jets (%3.0f%%)  %.0f jets/s  %.1f s elapsed, %.1f s left\n", verb, done, total,
         total ? 100.0 * (double)done / (double)total : 100.0, rate, ev->seconds, eta);
}
