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

/* ---- likelihood ------------------------------------------------------------------------
 *
 * The likelihood ratio p_top(m, t) / p_QCD(m, t) does not change when each variable is mapped
 * by a monotone function (the Jacobians cancel). Each variable is therefore first mapped to
 * u = F(x) in [0, 1], F the empirical distribution of the fitting jets (both classes), where
 * the jets spread evenly and one smoothing length suits everywhere. There each class's density
 * is a Gaussian kernel estimate, binned on a grid (linear binning onto G + 1 nodes per side,
 * edges reflected), plus a floor of one jet spread over the square so that no ratio is 0 or
 * infinite. A jet's score is ln(p_top / p_QCD) at its (u, v), interpolated bilinearly.
 * Formulas and choices: docs/roc.md "Baselines". */

/* The empirical distribution function of a sample as a continuous monotone map: the distinct
 * sorted values x[j] and their mid-ranks c[j] = (#below + #equal / 2) / n, linear in between,
 * constant outside. */
typedef struct {
  size_t n; /* distinct values */
  float *x;
  double *c;
} ecdf;

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void ecdf_free(ecdf *e) {
  free(e->x);
  free(e->c);
  e->x = NULL;
  e->c = NULL;
}

/* The map of the values v[i] of the jets i with i % 2 == fold. */
static jc_code ecdf_build(const float *v, size_t n_all, size_t fold, ecdf *e, jc_err *err) {
  size_t n = n_all / 2 + (fold == 0 ? n_all % 2 : 0);
  e->x = jc_malloc(n * sizeof *e->x, err);
  e->c = e->x ? jc_malloc(n * sizeof *e->c, err) : NULL;
  if (!e->c) {
    ecdf_free(e);
    return JC_ERR_NOMEM;
  }
  for (size_t k = 0; k < n; k++) e->x[k] = v[2 * k + fold];
  qsort(e->x, n, sizeof *e->x, cmp_float);
  size_t d = 0;
  for (size_t k = 0; k < n;) {
    size_t end = k;
    while (end < n && e->x[end] == e->x[k]) end++;
    e->x[d] = e->x[k];
    e->c[d] = ((double)k + 0.5 * (double)(end - k)) / (double)n;
    d++;
    k = end;
  }
  e->n = d;
  return JC_OK;
}

static double ecdf_at(const ecdf *e, float x) {
  if (x <= e->x[0]) return e->c[0];
  if (x >= e->x[e->n - 1]) return e->c[e->n - 1];
  size_t lo = 0, hi = e->n - 1; /* x[lo] <= x < x[hi] */
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (e->x[mid] <= x) lo = mid;
    else hi = mid;
  }
  if (e->x[lo] == x) return e->c[lo];
  return e->c[lo] + (e->c[hi] - e->c[lo]) * ((double)x - e->x[lo]) / ((double)e->x[hi] - e->x[lo]);
}

/* Robust spread of the n values u[k] (reordered): min(standard deviation, IQR / 1.349). */
static double spread(double *u, size_t n) {
  double mean = 0.0, ss = 0.0;
  for (size_t k = 0; k < n; k++) mean += u[k];
  mean /= (double)n;
  for (size_t k = 0; k < n; k++) ss += (u[k] - mean) * (u[k] - mean);
  double sd = n > 1 ? sqrt(ss / (double)(n - 1)) : 0.0;
  qsort(u, n, sizeof *u, cmp_double);
  double iqr = (u[(size_t)(0.75 * (double)(n - 1))] - u[(size_t)(0.25 * (double)(n - 1))]) / 1.349;
  return iqr > 0.0 && iqr < sd ? iqr : sd;
}

/* Node and weight of coordinate u in [0, 1] on a grid of g cells: u g = i + f, 0 <= i < g. */
static int grid_cell(double u, int g, double *f) {
  double a = u * g;
  int i = (int)floor(a);
  if (i < 0) i = 0;
  if (i > g - 1) i = g - 1;
  *f = a - i;
  if (*f < 0.0) *f = 0.0;
  if (*f > 1.0) *f = 1.0;
  return i;
}

/* Gaussian smoothing of the (g+1) x (g+1) node grid w along axis (0: first index, 1: second)
 * with a width of s nodes, reflecting at both edges; tmp has (g+1) entries. */
static void smooth_axis(double *w, int g, int axis, double s, double *kern, double *tmp) {
  const int n = g + 1;
  if (s < 1e-3) return; /* narrower than a node: nothing to smooth */
  int r = (int)ceil(4.0 * s);
  if (r > g) r = g;
  double norm = 1.0;
  kern[0] = 1.0;
  for (int d = 1; d <= r; d++) {
    kern[d] = exp(-0.5 * (double)d * d / (s * s));
    norm += 2.0 * kern[d];
  }
  for (int d = 0; d <= r; d++) kern[d] /= norm;
  for (int line = 0; line < n; line++) {
    double *x = axis == 0 ? w + line : w + (size_t)line * n; /* stride n along axis 0, 1 along 1 */
    size_t stride = axis == 0 ? (size_t)n : 1;
    for (int i = 0; i < n; i++) {
      double sum = 0.0;
      for (int j = i - r > 0 ? i - r : 0; j <= i + r && j < n; j++) sum += x[(size_t)j * stride] * kern[abs(i - j)];
      /* node j's mirror images at -j and 2g - j (the edge nodes are their own images) */
      for (int j = 1; j <= r - i && j < g; j++) sum += x[(size_t)j * stride] * kern[i + j];
      for (int j = 2 * g - i - r > 1 ? 2 * g - i - r : 1; j < g; j++) sum += x[(size_t)j * stride] * kern[2 * g - i - j];
      tmp[i] = sum;
    }
    for (int i = 0; i < n; i++) x[(size_t)i * stride] = tmp[i];
  }
}

/* Fit the two class densities on the jets of one fold and score the jets of the other. */
static jc_code likelihood_fold(const float *mass, const float *tau32, const int32_t *label, size_t n, int g,
                               size_t fold, float *score, jc_err *err) {
  const size_t nodes = (size_t)(g + 1) * (size_t)(g + 1);
  jc_code rc = JC_ERR_NOMEM;
  ecdf fm = {0, NULL, NULL}, ft = {0, NULL, NULL};
  double *dens = jc_calloc(2 * nodes, sizeof *dens, err); /* [class][node] */
  double *coord = dens ? jc_malloc(n * sizeof *coord, err) : NULL;
  double *work = coord ? jc_malloc((size_t)(2 * g + 4) * sizeof *work, err) : NULL;
  if (!work || ecdf_build(mass, n, fold, &fm, err) != JC_OK || ecdf_build(tau32, n, fold, &ft, err) != JC_OK) goto done;
  size_t count[2] = {0, 0};
  for (size_t i = fold; i < n; i += 2) count[label[i]]++;
  if (count[0] == 0 || count[1] == 0) {
    rc = jc_fail(err, JC_ERR_DATA, "the %s jets hold only one class", fold == 0 ? "even" : "odd");
    goto done;
  }
  for (int c = 0; c < 2; c++) {
    double *w = dens + (size_t)c * nodes;
    /* bandwidth per axis: h = spread n^(-1/6) (Scott's rule in two dimensions), in [1/g, 1/4] */
    double h[2];
    for (int axis = 0; axis < 2; axis++) {
      size_t k = 0;
      for (size_t i = fold; i < n; i += 2)
        if (label[i] == c) coord[k++] = ecdf_at(axis == 0 ? &fm : &ft, axis == 0 ? mass[i] : tau32[i]);
      h[axis] = spread(coord, k) * pow((double)k, -1.0 / 6.0);
      h[axis] = fmin(fmax(h[axis], 1.0 / g), 0.25);
    }
    for (size_t i = fold; i < n; i += 2) {
      if (label[i] != c) continue;
      double fa, fb;
      int a = grid_cell(ecdf_at(&fm, mass[i]), g, &fa), b = grid_cell(ecdf_at(&ft, tau32[i]), g, &fb);
      w[(size_t)a * (g + 1) + b] += (1 - fa) * (1 - fb);
      w[(size_t)(a + 1) * (g + 1) + b] += fa * (1 - fb);
      w[(size_t)a * (g + 1) + b + 1] += (1 - fa) * fb;
      w[(size_t)(a + 1) * (g + 1) + b + 1] += fa * fb;
    }
    smooth_axis(w, g, 0, h[0] * g, work, work + g + 2);
    smooth_axis(w, g, 1, h[1] * g, work, work + g + 2);
    /* p = (N smoothed / sum + 1 / nodes) / (N + 1): one jet spread over the square */
    double sum = 0.0;
    for (size_t k = 0; k < nodes; k++) sum += w[k];
    for (size_t k = 0; k < nodes; k++)
      w[k] = ((double)count[c] * w[k] / sum + 1.0 / (double)nodes) / ((double)count[c] + 1.0);
  }
  for (size_t i = 1 - fold; i < n; i += 2) {
    double fa, fb, p[2];
    int a = grid_cell(ecdf_at(&fm, mass[i]), g, &fa), b = grid_cell(ecdf_at(&ft, tau32[i]), g, &fb);
    for (int c = 0; c < 2; c++) {
      const double *w = dens + (size_t)c * nodes;
      p[c] = (1 - fa) * (1 - fb) * w[(size_t)a * (g + 1) + b] + fa * (1 - fb) * w[(size_t)(a + 1) * (g + 1) + b] +
             (1 - fa) * fb * w[(size_t)a * (g + 1) + b + 1] + fa * fb * w[(size_t)(a + 1) * (g + 1) + b + 1];
    }
    score[i] = (float)(log(p[1]) - log(p[0]));
  }
  rc = JC_OK;
done:
  ecdf_free(&fm);
  ecdf_free(&ft);
  free(work);
  free(coord);
  free(dens);
  return rc;
}

jc_code baseline_likelihood(const float *mass, const float *tau32, const int32_t *label, size_t n, int grid,
                            float **out, jc_err *err) {
  *out = NULL;
  if (grid < 2 || grid > 4096) return jc_fail(err, JC_ERR_USAGE, "likelihood grid of %d cells per side (2 to 4096)", grid);
  if (n < 4) return jc_fail(err, JC_ERR_DATA, "%zu jets are too few for a likelihood fitted in two folds", n);
  for (size_t i = 0; i < n; i++)
    if (!isfinite(mass[i]) || !isfinite(tau32[i]) || (label[i] != 0 && label[i] != 1))
      return jc_fail(err, JC_ERR_DATA, "jet %zu: mass %g, tau32 %g, label %d (finite values and labels 0/1 needed)", i,
                     mass[i], tau32[i], (int)label[i]);
  float *score = jc_malloc(n * sizeof *score, err);
  if (!score) return JC_ERR_NOMEM;
  jc_code rc = likelihood_fold(mass, tau32, label, n, grid, 0, score, err);
  if (rc == JC_OK) rc = likelihood_fold(mass, tau32, label, n, grid, 1, score, err);
  if (rc != JC_OK) {
    free(score);
    return rc;
  }
  *out = score;
  return JC_OK;
}
