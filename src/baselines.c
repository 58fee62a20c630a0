/* baselines.c - observables, window cuts and the likelihood baseline (see baselines.h). */
#include "jetcnn/baselines.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void baseline_tau_ratio(const float *num, const float *den, size_t n, float *out) {
  for (size_t i = 0; i < n; i++) out[i] = den[i] > 0.0f ? num[i] / den[i] : 1.0f;
}

/* tau_num / tau_den of f's jets, as a new array. */
static float *read_tau_ratio(const scores_file *f, const char *num, const char *den, jc_err *err) {
  float *a = scores_read_column(f, num, err);
  float *b = a ? scores_read_column(f, den, err) : NULL;
  if (!b) {
    free(a);
    return NULL;
  }
  baseline_tau_ratio(a, b, f->n, a);
  free(b);
  return a;
}

float *baseline_observable(const scores_file *f, const char *name, int *low_is_top, jc_err *err) {
  *low_is_top = 0;
  if (strcmp(name, "tau32") == 0 || strcmp(name, "tau21") == 0) {
    *low_is_top = 1;
    return strcmp(name, "tau32") == 0 ? read_tau_ratio(f, "/tau3", "/tau2", err) : read_tau_ratio(f, "/tau2", "/tau1", err);
  }
  return scores_read_column(f, name, err);
}

void baseline_window(float *x, size_t n, double lo, double hi) {
  for (size_t i = 0; i < n; i++) x[i] = (x[i] >= lo && x[i] <= hi) ? 1.0f : 0.0f;
}

void baseline_mass_window(float *score, const float *mass, size_t n, double lo, double hi) {
  for (size_t i = 0; i < n; i++)
    if (!(mass[i] >= lo && mass[i] <= hi)) score[i] = -INFINITY;
}

/* ---- likelihood ------------------------------------------------------------------------- */

/* Index of the bin of x given nb - 1 sorted inner edges: the number of edges <= x. */
static int bin_of(float x, const float *edges, int n_edges) {
  int lo = 0, hi = n_edges;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (edges[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

/* Inner bin edges at the quantiles k/n_bins of x (equal-population bins). Caller frees. */
static float *quantile_edges(const float *x, size_t n, int n_bins, jc_err *err) {
  float *sorted = jc_malloc(n * sizeof *sorted, err);
  float *edges = sorted ? jc_malloc((size_t)n_bins * sizeof *edges, err) : NULL;
  if (!edges) {
    free(sorted);
    return NULL;
  }
  memcpy(sorted, x, n * sizeof *sorted);
  qsort(sorted, n, sizeof *sorted, cmp_float);
  for (int k = 1; k < n_bins; k++) edges[k - 1] = sorted[(size_t)((double)k / n_bins * (double)(n - 1))];
  free(sorted);
  return edges;
}

jc_code baseline_likelihood(const float *mass, const float *tau32, const int32_t *label, size_t n, int n_bins,
                            float **out, jc_err *err) {
  *out = NULL;
  jc_code rc = JC_ERR_NOMEM;
  size_t cells = (size_t)n_bins * (size_t)n_bins;
  float *edges_m = quantile_edges(mass, n, n_bins, err);
  float *edges_t = edges_m ? quantile_edges(tau32, n, n_bins, err) : NULL;
  int *bin = edges_t ? jc_malloc(n * sizeof *bin, err) : NULL;
  double *hist = bin ? jc_calloc(4 * cells, sizeof *hist, err) : NULL; /* [fold][class][cell] */
  float *score = hist ? jc_malloc(n * sizeof *score, err) : NULL;
  if (!score) goto done;
  double count[2][2] = {{0, 0}, {0, 0}};
  for (size_t i = 0; i < n; i++) {
    bin[i] = bin_of(mass[i], edges_m, n_bins - 1) * n_bins + bin_of(tau32[i], edges_t, n_bins - 1);
    hist[((i % 2) * 2 + (size_t)label[i]) * cells + (size_t)bin[i]] += 1.0;
    count[i % 2][label[i]] += 1.0;
  }
  for (int f = 0; f < 2; f++)
    if (count[f][0] == 0 || count[f][1] == 0) {
      rc = jc_fail(err, JC_ERR_DATA, "the %s jets hold only one class", f == 0 ? "even" : "odd");
      goto done;
    }
  for (size_t i = 0; i < n; i++) {
    size_t other = 1 - i % 2;
    double p_qcd = hist[(other * 2 + 0) * cells + (size_t)bin[i]] / count[other][0];
    double p_top = hist[(other * 2 + 1) * cells + (size_t)bin[i]] / count[other][1];
    score[i] = p_top + p_qcd > 0.0 ? (float)(p_top / (p_top + p_qcd)) : 0.5f;
  }
  *out = score;
  score = NULL;
  rc = JC_OK;
done:
  free(score);
  free(hist);
  free(bin);
  free(edges_t);
  free(edges_m);
  return rc;
}
