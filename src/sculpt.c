/* sculpt.c - background sculpting and binned efficiencies of one cut (see sculpt.h). */
#include "jetcnn/sculpt.h"

#include <math.h>
#include <string.h>

size_t sculpt_slot(double x, const double *edges, size_t n_edges) {
  if (!(x < edges[n_edges - 1])) return n_edges; /* at or above the last edge, or NaN */
  size_t lo = 0, hi = n_edges;                   /* the number of edges <= x */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (edges[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

double sculpt_jsd(const uint64_t *p, const uint64_t *q, size_t n) {
  double np = 0.0, nq = 0.0;
  for (size_t i = 0; i < n; i++) {
    np += (double)p[i];
    nq += (double)q[i];
  }
  if (np == 0.0 || nq == 0.0) return NAN;
  double sum = 0.0;
  for (size_t i = 0; i < n; i++) {
    double a = (double)p[i] / np, b = (double)q[i] / nq, m = 0.5 * (a + b);
    if (a > 0.0) sum += 0.5 * a * log2(a / m);
    if (b > 0.0) sum += 0.5 * b * log2(b / m);
  }
  return sum > 0.0 ? sum : 0.0; /* rounding can leave -1e-17 for equal distributions */
}

void sculpt_mass_hist(const float *score, const int32_t *label, const float *mass, size_t n, double threshold,
                      const double *edges, size_t n_edges, uint64_t *pass, uint64_t *fail) {
  memset(pass, 0, (n_edges + 1) * sizeof *pass);
  memset(fail, 0, (n_edges + 1) * sizeof *fail);
  for (size_t i = 0; i < n; i++) {
    if (label[i] != 0) continue;
    size_t s = sculpt_slot(mass[i], edges, n_edges);
    if ((double)score[i] >= threshold) pass[s]++;
    else fail[s]++;
  }
}

double sculpt_upper68_none_pass(uint64_t n) {
  /* (1 - p)^n = 0.32  <=>  p = 1 - 0.32^(1/n) = -expm1(log(0.32) / n) */
  return n > 0 ? -expm1(log(0.32) / (double)n) : NAN;
}

/* Efficiency k / n and its binomial error; NAN for n = 0. */
static void efficiency(uint64_t k, uint64_t n, double *eps, double *err) {
  *eps = n > 0 ? (double)k / (double)n : NAN;
  *err = n > 0 ? sqrt(*eps * (1.0 - *eps) / (double)n) : NAN;
}

void sculpt_binned(const float *score, const int32_t *label, const float *x, size_t n, double threshold,
                   const double *edges, size_t n_edges, sculpt_bin *bins) {
  const size_t n_bins = n_edges - 1;
  memset(bins, 0, n_bins * sizeof *bins);
  for (size_t i = 0; i < n; i++) {
    size_t s = sculpt_slot(x[i], edges, n_edges);
    if (s == 0 || s == n_edges) continue; /* outside every bin */
    sculpt_bin *b = &bins[s - 1];
    int pass = (double)score[i] >= threshold;
    if (label[i] == 1) {
      b->n_signal++;
      b->n_signal_pass += (uint64_t)pass;
    } else {
      b->n_background++;
      b->n_background_pass += (uint64_t)pass;
    }
  }
  for (size_t k = 0; k < n_bins; k++) {
    sculpt_bin *b = &bins[k];
    b->lo = edges[k];
    b->hi = edges[k + 1];
    efficiency(b->n_signal_pass, b->n_signal, &b->eps_s, &b->eps_s_err);
    efficiency(b->n_background_pass, b->n_background, &b->eps_b, &b->eps_b_err);
    b->eps_b_upper68 = b->rejection_lower68 = NAN;
    if (b->n_background == 0) {
      b->rejection = b->rejection_err = NAN;
    } else if (b->n_background_pass == 0) {
      b->rejection = INFINITY;
      b->rejection_err = NAN;
      b->eps_b_upper68 = sculpt_upper68_none_pass(b->n_background);
      b->rejection_lower68 = 1.0 / b->eps_b_upper68;
    } else {
      b->rejection = 1.0 / b->eps_b;
      b->rejection_err = b->eps_b_err / (b->eps_b * b->eps_b);
    }
  }
}
