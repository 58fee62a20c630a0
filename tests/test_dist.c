/* test_dist.c - dist_sum_exact() and dist_agree() on sub-communicators (run under mpiexec
 * with 3 or more ranks).
 *
 * The world is split two ways (odd/even ranks, and rank 0 alone against the rest). On every
 * sub-communicator:
 *  - dist_sum_exact() of a fixed set of rows (values spanning many magnitudes, signs and a
 *    zero segment), dealt out to the sub-communicator's ranks in every contiguous way the
 *    test tries, gives the same bits as the same sum in one process (MPI_COMM_SELF), and
 *    that sum is within the fixed-point bound of the exact (long double) sum;
 *  - a non-finite value on one rank fails every rank of that sub-communicator with the
 *    segment index, and only there;
 *  - dist_agree(): a failure on one rank reaches every rank of its sub-communicator with the
 *    code of the lowest failing rank and its message prefixed "rank R (host): " (R its rank
 *    in the sub-communicator), while the other sub-communicator agrees on JC_OK.
 * A failing check aborts the whole job (MPI_Abort), so the test never hangs.
 */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jetcnn/dist.h"

#define CHECK(comm, cond, ...)                                                      \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      fprintf(stderr, "FAIL (world rank %d): ", dist_rank(MPI_COMM_WORLD));          \
      fprintf(stderr, __VA_ARGS__);                                                 \
      fprintf(stderr, "\n");                                                        \
      MPI_Abort(MPI_COMM_WORLD, 1);                                                 \
    }                                                                               \
  } while (0)

enum { N_ROWS = 13, LEN = 40, N_SEG = 4 };
static const size_t SEG[N_SEG + 1] = {0, 10, 25, 26, 40}; /* segment 2 is one value, always zero */

/* Row k of the test data: values from about 1e-6 to 1e3, both signs, a pseudo-random pattern. */
static void make_row(int k, float *row) {
  unsigned x = 2463534242u + 977u * (unsigned)k;
  for (int j = 0; j < LEN; j++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    double mag = pow(10.0, (double)(x % 10) - 6.0);
    row[j] = (float)((x & 1 ? -1.0 : 1.0) * mag * (1.0 + (double)(x % 997) / 997.0));
    if (SEG[2] <= (size_t)j && (size_t)j < SEG[3]) row[j] = 0.0f;
  }
}

/* The sum of all N_ROWS rows on comm, this rank holding rows [lo, hi). */
static jc_code sum_rows(MPI_Comm comm, int lo, int hi, float *out, int poison, int *bad, jc_err *err) {
  jc_reducer *r = dist_reducer_create(LEN, SEG, N_SEG, err);
  if (!r) return err->code;
  float *rows = calloc((size_t)(hi - lo + 1) * LEN, sizeof *rows);
  for (int k = lo; k < hi; k++) make_row(k, rows + (size_t)(k - lo) * LEN);
  if (poison && hi > lo) rows[SEG[1] + 3] = NAN; /* a value of segment 1 */
  jc_code rc = dist_sum_exact(comm, r, rows, hi - lo, N_ROWS, out, JC_OK, bad, err);
  free(rows);
  dist_reducer_free(&r);
  return rc;
}

static void check_sums(MPI_Comm sub, const char *what) {
  const int rank = dist_rank(sub), size = dist_size(sub);
  jc_err err;
  float ref[LEN], got[LEN];
  int bad = -1;
  CHECK(sub, sum_rows(MPI_COMM_SELF, 0, N_ROWS, ref, 0, &bad, &err) == JC_OK, "%s: self sum: %s", what, err.msg);
  /* The exact sum, for the fixed-point bound: each segment rounds below 2^-(62-L-e) of its max. */
  for (int j = 0; j < LEN; j++) {
    long double exact = 0.0L;
    float row[LEN];
    for (int k = 0; k < N_ROWS; k++) {
      make_row(k, row);
      exact += (long double)row[j];
    }
    double tol = 1e-6 * fabs((double)exact) + 1e-9;
    CHECK(sub, fabs((double)((long double)ref[j] - exact)) <= tol, "%s: value %d: %g, exact %Lg", what, j,
          (double)ref[j], exact);
  }
  /* Rank 0 holds the first t rows, the other ranks share the rest evenly: empty shares,
   * everything on one rank, uneven splits. */
  for (int t = 0; t <= N_ROWS; t += 3) {
    int first = size == 1 ? N_ROWS : t, lo, hi;
    if (rank == 0) {
      lo = 0;
      hi = first;
    } else {
      lo = first + (rank - 1) * (N_ROWS - first) / (size - 1);
      hi = first + rank * (N_ROWS - first) / (size - 1);
    }
    CHECK(sub, sum_rows(sub, lo, hi, got, 0, &bad, &err) == JC_OK, "%s: sum: %s", what, err.msg);
    CHECK(sub, memcmp(got, ref, sizeof ref) == 0, "%s: rows [%d,%d) on rank %d of %d: not the same bits as one "
          "process", what, lo, hi, rank, size);
  }
  /* A NaN on the last rank of this sub-communicator only. */
  int lo = rank * N_ROWS / size, hi = (rank + 1) * N_ROWS / size;
  bad = -1;
  jc_code rc = sum_rows(sub, lo, hi, got, rank == size - 1, &bad, &err);
  CHECK(sub, rc == JC_ERR_RUNTIME && bad == 1, "%s: a NaN in segment 1 on rank %d gave code %d, segment %d", what,
        size - 1, (int)rc, bad);
}

static void check_agree(MPI_Comm sub, int failing, const char *what) {
  const int rank = dist_rank(sub);
  jc_err err;
  jc_err_clear(&err);
  jc_code mine = JC_OK;
  if (failing && rank >= 1) mine = jc_fail(&err, rank == 1 ? JC_ERR_DATA : JC_ERR_IO, "trouble on %d", rank);
  jc_code rc = dist_agree(sub, mine, &err);
  if (!failing || dist_size(sub) < 2) {
    CHECK(sub, rc == JC_OK, "%s: agreed %d without a failure", what, (int)rc);
    return;
  }
  char host[MPI_MAX_PROCESSOR_NAME] = "";
  int len = 0;
  MPI_Get_processor_name(host, &len);
  char want[JC_ERR_MSG_MAX];
  snprintf(want, sizeof want, "rank 1 (%s): trouble on 1", host); /* single host: every rank's name is ours */
  CHECK(sub, rc == JC_ERR_DATA && err.code == JC_ERR_DATA, "%s: code %d, expected the lowest failing rank's %d",
        what, (int)rc, (int)JC_ERR_DATA);
  CHECK(sub, strcmp(err.msg, want) == 0, "%s: message '%s', expected '%s'", what, err.msg, want);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  const int world = dist_rank(MPI_COMM_WORLD), n = dist_size(MPI_COMM_WORLD);
  if (n < 3) {
    if (world == 0) fprintf(stderr, "FAIL: test_dist needs at least 3 ranks (got %d)\n", n);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Comm parity, lone;
  MPI_Comm_split(MPI_COMM_WORLD, world % 2, world, &parity);
  MPI_Comm_split(MPI_COMM_WORLD, world == 0, world, &lone);
  check_sums(MPI_COMM_WORLD, "world");
  check_sums(parity, world % 2 ? "odd ranks" : "even ranks");
  check_sums(lone, world == 0 ? "rank 0 alone" : "ranks 1..");
  /* Odd ranks fail (ranks 1 and up of their sub-communicator), even ranks do not: each side
   * agrees on its own outcome, in the same collective call. */
  check_agree(parity, world % 2, world % 2 ? "odd ranks failing" : "even ranks passing");
  check_agree(lone, world != 0, world == 0 ? "rank 0 alone" : "ranks 1.. failing");
  MPI_Comm_free(&parity);
  MPI_Comm_free(&lone);
  if (world == 0) printf("test_dist: exact sums and agreement on %d ranks and 4 sub-communicators: ok\n", n);
  MPI_Finalize();
  return 0;
}
