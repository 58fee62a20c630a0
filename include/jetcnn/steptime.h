/* steptime.h - which rank is slow: per-rank compute and allreduce-wait time of an epoch.
 *
 * With a synchronous allreduce every rank waits for the slowest, so the step time hides which
 * node is slow. Each rank measures its compute (read + forward + backward: everything before
 * it enters the gradient reduction) and its wait (from entering the reduction to its
 * completion). Reduced over the ranks at the epoch end: a slow node is the rank with the
 * largest compute (the others wait for it); a slow link shows as wait on every rank with
 * compute unchanged. Formats: docs/cluster.md, "Seeing a slow node".
 */
#ifndef JETCNN_STEPTIME_H
#define JETCNN_STEPTIME_H

#include <mpi.h>
#include <stddef.h>

#include "jetcnn/error.h"

#define STEPTIME_HOST_MAX 64

typedef struct {
  double compute_min, compute_max, wait_min, wait_max; /* seconds */
  int compute_max_rank, wait_max_rank;
  char compute_max_host[STEPTIME_HOST_MAX], wait_max_host[STEPTIME_HOST_MAX];
} jc_steptime;

/* metrics.csv columns, appended after the existing ones (no leading or trailing comma). */
#define STEPTIME_CSV_HEADER \
  "compute_min_s,compute_max_s,compute_max_rank,compute_max_host,wait_min_s,wait_max_s,wait_max_rank,wait_max_host"

/* Min and max over the ranks of comm of this rank's `compute` and `wait` seconds, with the rank
 * and host of each max, into *out (the same on every rank). Collective. */
jc_code steptime_gather(MPI_Comm comm, double compute, double wait, jc_steptime *out, jc_err *err);

/* The CSV fields matching STEPTIME_CSV_HEADER into buf (size n); returns snprintf's count. */
int steptime_csv(const jc_steptime *s, char *buf, size_t n);

/* The --profile line (no newline):
 * "  ranks: compute (read+forward+backward) min A s, max B s on rank R (HOST); allreduce wait
 *  min C s, max D s on rank Q (HOST)". Returns snprintf's count. */
int steptime_format(const jc_steptime *s, char *buf, size_t n);

#endif
