/* sgemm_rate.c - the sgemm FLOP rate of these cores, the yardstick for jetcnn's GFLOP/s.
 *
 * usage: sgemm_rate [N]   (square N x N x N, default 1536)
 * Prints JSON with two rates: "threaded", one cblas_sgemm on OpenBLAS's own OpenMP threads
 * (OMP_NUM_THREADS of them), and "per_thread", every thread running its own single-threaded
 * sgemm inside an OpenMP parallel region (jetcnn's way: one micro-batch per thread), summed.
 */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

/* Best GFLOP/s of reps calls of C (n,n) = A (n,n) B (n,n). */
static double best_rate(int n, int reps, const float *a, const float *b, float *c) {
  double best = 0.0;
  for (int r = 0; r < reps; r++) {
    double t0 = omp_get_wtime();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    double dt = omp_get_wtime() - t0, g = 2.0 * n * (double)n * n / dt * 1e-9;
    if (g > best) best = g;
  }
  return best;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 1536;
  if (n < 16 || n > 8192) {
    fprintf(stderr, "usage: sgemm_rate [N in 16..8192]\n");
    return 2;
  }
  const int threads = omp_get_max_threads(), reps = 7;
  size_t nn = (size_t)n * (size_t)n;
  float *buf = malloc(3 * nn * (size_t)threads * sizeof *buf);
  if (!buf) return 5;
  for (size_t i = 0; i < 3 * nn * (size_t)threads; i++) buf[i] = (float)((i * 2654435761u) % 1000) * 1e-3f;
  double threaded = best_rate(n, reps, buf, buf + nn, buf + 2 * nn);
  double per_thread = 0.0;
#pragma omp parallel reduction(+ : per_thread)
  {
    float *mine = buf + 3 * nn * (size_t)omp_get_thread_num();
#pragma omp barrier
    per_thread += best_rate(n, reps, mine, mine + nn, mine + 2 * nn);
  }
  printf("{\"n\": %d, \"threads\": %d, \"threaded_gflop_s\": %.1f, \"per_thread_gflop_s\": %.1f}\n", n, threads,
         threaded, per_thread);
  free(buf);
  return 0;
}
