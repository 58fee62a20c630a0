/* dist.h - everything that crosses ranks: failure agreement and the exact gradient allreduce.
 *
 * Every function takes the communicator it works on; none uses MPI_COMM_WORLD.
 */
#ifndef JETCNN_DIST_H
#define JETCNN_DIST_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "jetcnn/error.h"

/* Collective failure agreement. Every rank passes its local code (and err holding its
 * message when it failed). If any rank failed, every rank returns the code of the lowest
 * failing rank, and err holds that rank's message prefixed with "rank R (host): " (unless it
 * already starts with "rank R (": an error agreed on before keeps its one prefix).
 * Returns JC_OK when all ranks passed JC_OK. */
jc_code dist_agree(MPI_Comm comm, jc_code rc, jc_err *err);

/* The one check every MPI call goes through:
 *   JC_TRY(JC_MPI(MPI_Bcast(buf, n, MPI_INT, 0, comm), err));
 * evaluates to JC_OK, or to JC_ERR_RUNTIME with "MPI_Bcast failed (src/x.c:42): <MPI's error
 * string>" in err. Failures come back only under MPI_ERRORS_RETURN, which main() sets on the
 * communicators it hands out (sub-communicators inherit it). A failure seen by one rank must
 * still be agreed on (dist_agree) before the next collective. */
#define JC_MPI(call, err) dist_mpi_check((call), #call, __FILE__, __LINE__, (err))
jc_code dist_mpi_check(int mpi_rc, const char *call, const char *file, int line, jc_err *err);

/* Rank and size of comm (never fails on a valid communicator). */
int dist_rank(MPI_Comm comm);
int dist_size(MPI_Comm comm);

/* ---- exact, rank-count-independent sums ----
 * Each rank holds the vectors of the micro-batches it computed (rows of len floats).
 * dist_sum_exact() adds all rows of all ranks in 64-bit fixed point: every segment
 * (a kernel, a bias, a statistic) gets a power-of-two scale from the global maximum of its
 * magnitude, every value is rounded once to an integer, and integer addition is
 * associative. The result is therefore bitwise identical for any number of ranks and
 * threads and any assignment of micro-batches to them. */
typedef struct {
  size_t len;       /* floats per row */
  int n_seg;
  size_t *seg;      /* segment boundaries, n_seg + 1 entries, seg[0] = 0, seg[n_seg] = len */
  int64_t *acc;     /* len accumulators */
  float *maxv;      /* n_seg + 2 maxima (the last two carry the error flag and `flag`) */
  int flag;         /* in: this rank's flag (e.g. a stop request, 0..2^24); out: the maximum over
                     * ranks, agreed in the same collective as the sum */
  double *scale;    /* n_seg fixed-point scales of the current sum */
  int overlap;      /* 1: one MPI_Iallreduce per segment, started as soon as that segment is
                     * converted (overlaps conversion and communication); 0: one blocking
                     * MPI_Allreduce. Same result; 0 is the default (docs/performance.md). */
  MPI_Request *req; /* n_seg requests for overlap mode */
} jc_reducer;

/* Reducer for rows of len floats cut into n_seg segments (bounds copied). Caller owns. */
jc_reducer *dist_reducer_create(size_t len, const size_t *seg, int n_seg, jc_err *err);
void dist_reducer_free(jc_reducer **r);

/* out[len] = sum of the n_local rows of every rank (n_global rows in all; bounds the sum).
 * local_rc carries a failure of this rank's part of the step (e.g. a read error); it is
 * agreed on in the same collective, so a failing rank never leaves the others hanging.
 * A non-finite value anywhere fails on all ranks with the segment index in *bad_seg. */
jc_code dist_sum_exact(MPI_Comm comm, jc_reducer *r, const float *rows, int n_local, long n_global, float *out,
                       jc_code local_rc, int *bad_seg, jc_err *err);

#endif
