/* bench_allreduce.c - cost of the exact fixed-point gradient sum (dist_sum_exact), with one
 * blocking allreduce and with one non-blocking allreduce per segment overlapping the
 * conversion, against a plain float sum of the local rows followed by
 * MPI_Allreduce(MPI_FLOAT, SUM), for N parameters and R local micro-batch rows per rank.
 * usage: mpiexec -np P bench_allreduce [N=62949] [R=2] [ITER=200] */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jetcnn/dist.h"
#include "jetcnn/rng.h"

static long arg(int argc, char **argv, int i, long def) {
  if (argc <= i) return def;
  char *end = NULL;
  long v = strtol(argv[i], &end, 10);
  return (end && *end == '\0' && v > 0) ? v : def;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm comm = MPI_COMM_WORLD;
  const size_t n = (size_t)arg(argc, argv, 1, 62949);
  const int rows = (int)arg(argc, argv, 2, 2), iters = (int)arg(argc, argv, 3, 200);
  const int rank = dist_rank(comm), size = dist_size(comm);
  float *x = malloc(n * (size_t)rows * sizeof *x), *out = malloc(n * sizeof *out);
  jc_rng r = rng_stream(42 + (uint64_t)rank);
  for (size_t i = 0; i < n * (size_t)rows; i++) x[i] = (float)((rng_uniform(&r) - 0.5) * 1e-2);
  size_t seg[21];
  for (int s = 0; s <= 20; s++) seg[s] = n * (size_t)s / 20; /* 20 segments, like 10 layers */
  jc_err err;
  jc_reducer *red = dist_reducer_create(n, seg, 20, &err);
  if (!x || !out || !red) MPI_Abort(comm, 1);
  double t_exact = 0, t_overlap = 0, t_float = 0;
  for (int it = -10; it < iters; it++) {
    MPI_Barrier(comm);
    double t0 = MPI_Wtime();
    red->overlap = 0;
    if (dist_sum_exact(comm, red, x, rows, (long)rows * size, out, JC_OK, NULL, &err) != JC_OK) MPI_Abort(comm, 1);
    double t1 = MPI_Wtime();
    MPI_Barrier(comm);
    double t4 = MPI_Wtime();
    red->overlap = 1;
    if (dist_sum_exact(comm, red, x, rows, (long)rows * size, out, JC_OK, NULL, &err) != JC_OK) MPI_Abort(comm, 1);
    double t5 = MPI_Wtime();
    MPI_Barrier(comm);
    double t2 = MPI_Wtime();
    memcpy(out, x, n * sizeof *out);
    for (int k = 1; k < rows; k++)
      for (size_t i = 0; i < n; i++) out[i] += x[(size_t)k * n + i];
    MPI_Allreduce(MPI_IN_PLACE, out, (int)n, MPI_FLOAT, MPI_SUM, comm);
    double t3 = MPI_Wtime();
    if (it >= 0) {
      t_exact += t1 - t0;
      t_overlap += t5 - t4;
      t_float += t3 - t2;
    }
  }
  if (rank == 0)
    printf("P=%d n=%zu rows/rank=%d: exact blocking %.3f ms, exact overlapped per segment %.3f ms, plain float %.3f ms "
           "per step\n",
           size, n, rows, 1e3 * t_exact / iters, 1e3 * t_overlap / iters, 1e3 * t_float / iters);
  dist_reducer_free(&red);
  free(x);
  free(out);
  MPI_Finalize();
  return 0;
}
