/* roc.c - exact ROC curves, AUC, rejection and their uncertainties (see roc.h, docs/roc.md). */
#include "jetcnn/roc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- sorting: jets by decreasing score, in O(n) with a radix sort ----------------------- */

/* A 32-bit key whose unsigned ascending order is the float's descending order. -0 is folded
 * into +0 so that the two compare equal, as they do as floats. */
static uint32_t desc_key(float score) {
  uint32_t u;
  if (score == 0.0f) score = 0.0f;
  memcpy(&u, &score, sizeof u);
  uint32_t asc = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return ~asc;
}

static float key_score(uint32_t key) {
  uint32_t asc = ~key;
  uint32_t u = (asc & 0x80000000u) ? (asc ^ 0x80000000u) : ~asc;
  float score;
  memcpy(&score, &u, sizeof score);
  return score;
}

/* Validate the inputs and count the classes. */
static jc_code check_jets(const float *score, const int32_t *label, size_t n, uint64_t *n_signal,
                          uint64_t *n_background, jc_err *err) {
  uint64_t ns = 0, nb = 0;
  for (size_t i = 0; i < n; i++) {
    if (isnan(score[i])) return jc_fail(err, JC_ERR_DATA, "score of jet %zu is NaN", i);
    if (label[i] == 1) ns++;
    else if (label[i] == 0) nb++;
    else return jc_fail(err, JC_ERR_DATA, "label of jet %zu is %d (expected 0 = QCD or 1 = top)", i, (int)label[i]);
  }
  if (ns == 0 || nb == 0)
    return jc_fail(err, JC_ERR_DATA, "only one class present (%llu signal, %llu background jets of %zu): "
                   "a ROC curve needs both", (unsigned long long)ns, (unsigned long long)nb, n);
  *n_signal = ns;
  *n_background = nb;
  return JC_OK;
}

/* The jets packed as (key << 32 | label), sorted by key, i.e. by decreasing score.
 * LSD radix sort on the key's four bytes; stable, so the order is a pure function of the
 * input. Caller frees the returned array. */
static uint64_t *sort_jets(const float *score, const int32_t *label, size_t n, jc_err *err) {
  uint64_t *a = jc_malloc(n * sizeof *a, err);
  uint64_t *b = a ? jc_malloc(n * sizeof *b, err) : NULL;
  if (!b) {
    free(a);
    return NULL;
  }
  for (size_t i = 0; i < n; i++) a[i] = (uint64_t)desc_key(score[i]) << 32 | (uint64_t)label[i];
  for (int pass = 0; pass < 4; pass++) {
    int shift = 32 + 8 * pass;
    size_t count[257] = {0};
    for (size_t i = 0; i < n; i++) count[((a[i] >> shift) & 0xff) + 1]++;
    if (count[((a[0] >> shift) & 0xff) + 1] == n) continue; /* this byte is the same everywhere */
    for (int k = 0; k < 256; k++) count[k + 1] += count[k];
    for (size_t i = 0; i < n; i++) b[count[(a[i] >> shift) & 0xff]++] = a[i];
    uint64_t *t = a;
    a = b;
    b = t;
  }
  free(b);
  return a;
}

static size_t count_groups(const uint64_t *jets, size_t n) {
  size_t groups = 0;
  for (size_t i = 0; i < n; i++)
    if (i == 0 || (jets[i] >> 32) != (jets[i - 1] >> 32)) groups++;
  return groups;
}

/* ---- the curve --------------------------------------------------------------------------- */

static roc_curve *curve_alloc(size_t n_points, jc_err *err) {
  roc_curve *c = jc_calloc(1, sizeof *c, err);
  if (!c) return NULL;
  c->n_points = n_points;
  c->threshold = jc_malloc(n_points * sizeof(double), err);
  c->eps_s = c->threshold ? jc_malloc(n_points * sizeof(double), err) : NULL;
  c->eps_b = c->eps_s ? jc_malloc(n_points * sizeof(double), err) : NULL;
  if (!c->eps_b) roc_curve_free(&c);
  return c;
}

void roc_curve_free(roc_curve **curve) {
  if (!curve || !*curve) return;
  free((*curve)->threshold);
  free((*curve)->eps_s);
  free((*curve)->eps_b);
  free(*curve);
  *curve = NULL;
}

jc_code roc_curve_compute(const float *score, const int32_t *label, size_t n, roc_curve **out,
                          jc_err *err) {
  *out = NULL;
  uint64_t ns = 0, nb = 0;
  JC_TRY(check_jets(score, label, n, &ns, &nb, err));
  uint64_t *jets = sort_jets(score, label, n, err);
  if (!jets) return JC_ERR_NOMEM;
  roc_curve *c = curve_alloc(count_groups(jets, n) + 1, err);
  if (!c) {
    free(jets);
    return JC_ERR_NOMEM;
  }
  c->n_signal = ns;
  c->n_background = nb;
  c->threshold[0] = INFINITY;
  c->eps_s[0] = c->eps_b[0] = 0.0;
  /* AUC = P(s > b) + P(s = b)/2 = sum over score groups g of b_g (2 S_above + s_g) / (2 N_s N_b),
   * in exact integers. */
  uint64_t cum_s = 0, cum_b = 0, auc2 = 0;
  size_t p = 0;
  for (size_t i = 0; i < n;) {
    uint32_t key = (uint32_t)(jets[i] >> 32);
    uint64_t s = 0, b = 0;
    for (; i < n && (uint32_t)(jets[i] >> 32) == key; i++) {
      if (jets[i] & 1u) s++;
      else b++;
    }
    auc2 += b * (2 * cum_s + s);
    cum_s += s;
    cum_b += b;
    p++;
    c->threshold[p] = key_score(key);
    c->eps_s[p] = (double)cum_s / (double)ns;
    c->eps_b[p] = (double)cum_b / (double)nb;
  }
  c->auc = (double)auc2 / (2.0 * (double)ns * (double)nb);
  free(jets);
  *out = c;
  return JC_OK;
}

/* Index of the first point with eps_s >= target (n_points - 1 if none, which cannot happen
 * for target <= 1 since the curve ends at eps_s = 1). */
static size_t first_at_or_above(const double *eps_s, size_t n_points, double target) {
  size_t lo = 0, hi = n_points - 1;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (eps_s[mid] >= target) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

static double eps_b_at(const double *eps_s, const double *eps_b, size_t n_points, double target) {
  size_t i = first_at_or_above(eps_s, n_points, target);
  if (i == 0 || eps_s[i] <= target) return eps_b[i];
  /* eps_b = eps_b[i-1] + (target - eps_s[i-1]) (eps_b[i] - eps_b[i-1]) / (eps_s[i] - eps_s[i-1]) */
  double t = (target - eps_s[i - 1]) / (eps_s[i] - eps_s[i - 1]);
  return eps_b[i - 1] + t * (eps_b[i] - eps_b[i - 1]);
}

double roc_eps_b_at(const roc_curve *curve, double eps_s) {
  return eps_b_at(curve->eps_s, curve->eps_b, curve->n_points, eps_s);
}

double roc_rejection_at(const roc_curve *curve, double eps_s) {
  double eb = roc_eps_b_at(curve, eps_s);
  return eb > 0.0 ? 1.0 / eb : INFINITY;
}

double roc_threshold_at(const roc_curve *curve, double eps_s) {
  return curve->threshold[roc_point_at(curve, eps_s)];
}

size_t roc_point_at(const roc_curve *curve, double eps_s) {
  return first_at_or_above(curve->eps_s, curve->n_points, eps_s);
}

jc_code roc_metrics(const float *score, const int32_t *label, size_t n, double eps_s,
                    double *auc, double *rejection, jc_err *err) {
  if (!(eps_s >= 0.0 && eps_s <= 1.0))
    return jc_fail(err, JC_ERR_USAGE, "signal efficiency %g is outside [0, 1]", eps_s);
  roc_curve *c = NULL;
  JC_TRY(roc_curve_compute(score, label, n, &c, err));
  if (auc) *auc = c->auc;
  if (rejection) *rejection = roc_rejection_at(c, eps_s);
  roc_curve_free(&c);
  return JC_OK;
}

/* ---- thinning ---------------------------------------------------------------------------- */

jc_code roc_curve_thin(const roc_curve *curve, size_t max_points, roc_curve **out, jc_err *err) {
  *out = NULL;
  if (max_points < 16) return jc_fail(err, JC_ERR_USAGE, "cannot thin a ROC curve to fewer than 16 points");
  size_t n = curve->n_points;
  const double *es = curve->eps_s, *eb = curve->eps_b;
  unsigned char *keep = jc_calloc(n, 1, err);
  if (!keep) return JC_ERR_NOMEM;
  /* Lossless: drop inner points of vertical (eps_b constant) and horizontal (eps_s constant)
   * runs; exact because equal counts give bit-identical efficiencies. */
  size_t n_keep = 0;
  for (size_t i = 0; i < n; i++) {
    int inner = i > 0 && i + 1 < n &&
                ((eb[i - 1] == eb[i] && eb[i] == eb[i + 1]) || (es[i - 1] == es[i] && es[i] == es[i + 1]));
    keep[i] = !inner;
    n_keep += keep[i];
  }
  if (n_keep > max_points) {
    /* Each kept point that is not forced has moved more than step_lin in eps_s or eps_b, or
     * more than step_log in log10(eps_b), since the last kept point (or left eps_b = 0). Those
     * quantities are monotone with total ranges 1, 1 and log10(n_background), so at most
     * 2 m_lin + m_log + 1 such points exist. Each brings along the exact point before it (the
     * corner of the staircase, so that interpolation does not cut it), and 3 points are forced:
     * with m_lin = (max - 5) / 8 and m_log = (max - 5) / 4 that is <= max_points. The log
     * scale gets half of the budget: it is where plots of 1/eps_b need the resolution. */
    double m_lin = (double)((max_points - 5) / 8), m_log = (double)((max_points - 5) / 4);
    double step_lin = 1.0 / m_lin;
    double decades = curve->n_background > 1 ? log10((double)curve->n_background) : 0.0;
    double step_log = decades > 0.0 ? decades / m_log : INFINITY;
    unsigned char *exact = keep;
    keep = jc_calloc(n, 1, err);
    if (!keep) {
      free(exact);
      return JC_ERR_NOMEM;
    }
    size_t last = 0, prev = 0; /* last kept point, last point of the lossless curve */
    keep[0] = 1;
    for (size_t i = 1; i < n; i++) {
      if (!exact[i]) continue;
      int forced = i + 1 == n || (eb[i] == 0.0 && eb[i + 1] > 0.0);
      int moved = es[i] - es[last] > step_lin || eb[i] - eb[last] > step_lin ||
                  (eb[i] > 0.0 && (eb[last] == 0.0 || log10(eb[i] / eb[last]) > step_log));
      if (forced || moved) {
        if (moved) keep[prev] = 1;
        keep[i] = 1;
        last = i;
      }
      prev = i;
    }
    free(exact);
    n_keep = 0;
    for (size_t i = 0; i < n; i++) n_keep += keep[i];
  }
  roc_curve *c = curve_alloc(n_keep, err);
  if (!c) {
    free(keep);
    return JC_ERR_NOMEM;
  }
  c->n_signal = curve->n_signal;
  c->n_background = curve->n_background;
  c->auc = curve->auc;
  for (size_t i = 0, p = 0; i < n; i++) {
    if (!keep[i]) continue;
    c->threshold[p] = curve->threshold[i];
    c->eps_s[p] = es[i];
    c->eps_b[p] = eb[i];
    p++;
  }
  free(keep);
  *out = c;
  return JC_OK;
}

/* ---- uncertainties ----------------------------------------------------------------------- */

/* splitmix64: a small, well-mixed generator; one state word, so replicas are reproducible. */
static uint64_t splitmix64(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* A Poisson(1) count by inversion of its cumulative distribution, P(k) = e^-1 / k!. */
static uint32_t poisson1(uint64_t *state, const double *cdf, int n_cdf) {
  double u = (double)(splitmix64(state) >> 11) * 0x1.0p-53;
  uint32_t k = 0;
  while ((int)k < n_cdf - 1 && u >= cdf[k]) k++;
  return k;
}

void roc_bootstrap_free(roc_bootstrap_result **result) {
  if (!result || !*result) return;
  free((*result)->eps_s);
  free((*result)->rejection_std);
  free((*result)->n_finite);
  free(*result);
  *result = NULL;
}

/* Sample standard deviation of the finite values among x[0..n). */
static double finite_std(const double *x, size_t n, size_t *n_finite) {
  double sum = 0.0;
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (isfinite(x[i])) {
      sum += x[i];
      k++;
    }
  *n_finite = k;
  if (k < 2) return NAN;
  double mean = sum / (double)k, ss = 0.0;
  for (size_t i = 0; i < n; i++)
    if (isfinite(x[i])) ss += (x[i] - mean) * (x[i] - mean);
  return sqrt(ss / (double)(k - 1));
}

jc_code roc_bootstrap(const float *score, const int32_t *label, size_t n, const double *eps_s,
                      size_t n_eps, size_t n_replicas, uint64_t seed, roc_bootstrap_result **out,
                      jc_err *err) {
  *out = NULL;
  if (n_replicas < 2) return jc_fail(err, JC_ERR_USAGE, "the bootstrap needs at least 2 replicas");
  for (size_t e = 0; e < n_eps; e++)
    if (!(eps_s[e] >= 0.0 && eps_s[e] <= 1.0))
      return jc_fail(err, JC_ERR_USAGE, "signal efficiency %g is outside [0, 1]", eps_s[e]);
  uint64_t ns = 0, nb = 0;
  JC_TRY(check_jets(score, label, n, &ns, &nb, err));
  jc_code rc = JC_ERR_NOMEM;
  uint64_t *jets = sort_jets(score, label, n, err);
  size_t n_groups = jets ? count_groups(jets, n) : 0;
  uint64_t *gs = jets ? jc_malloc(n_groups * sizeof *gs, err) : NULL;
  uint64_t *gb = gs ? jc_malloc(n_groups * sizeof *gb, err) : NULL;
  double *es = gb ? jc_malloc((n_groups + 1) * sizeof *es, err) : NULL;
  double *eb = es ? jc_malloc((n_groups + 1) * sizeof *eb, err) : NULL;
  double *auc = eb ? jc_malloc(n_replicas * sizeof *auc, err) : NULL;
  double *rej = auc ? jc_malloc(n_replicas * (n_eps ? n_eps : 1) * sizeof *rej, err) : NULL;
  roc_bootstrap_result *r = rej ? jc_calloc(1, sizeof *r, err) : NULL;
  if (r) {
    r->eps_s = jc_malloc((n_eps ? n_eps : 1) * sizeof(double), err);
    r->rejection_std = r->eps_s ? jc_malloc((n_eps ? n_eps : 1) * sizeof(double), err) : NULL;
    r->n_finite = r->rejection_std ? jc_malloc((n_eps ? n_eps : 1) * sizeof(size_t), err) : NULL;
  }
  if (!r || !r->n_finite) goto done;

  double cdf[24], p = exp(-1.0), sum = 0.0;
  for (int k = 0; k < 24; k++) {
    sum += p;
    cdf[k] = sum;
    p /= (double)(k + 1);
  }
  uint64_t state = seed;
  size_t n_valid = 0;
  for (size_t rep = 0; rep < n_replicas; rep++) {
    /* Weight every jet (in sorted order, so the draw is independent of the input order of
     * jets with equal score and label) and sum the weights per score group. */
    uint64_t ws = 0, wb = 0;
    for (size_t i = 0, g = 0; i < n; g++) {
      uint32_t key = (uint32_t)(jets[i] >> 32);
      uint64_t s = 0, b = 0;
      for (; i < n && (uint32_t)(jets[i] >> 32) == key; i++) {
        uint32_t w = poisson1(&state, cdf, 24);
        if (jets[i] & 1u) s += w;
        else b += w;
      }
      gs[g] = s;
      gb[g] = b;
      ws += s;
      wb += b;
    }
    if (ws == 0 || wb == 0) continue; /* a replica without one of the classes has no curve */
    uint64_t cum_s = 0, cum_b = 0;
    double auc2 = 0.0;
    es[0] = eb[0] = 0.0;
    for (size_t g = 0; g < n_groups; g++) {
      auc2 += (double)gb[g] * (double)(2 * cum_s + gs[g]);
      cum_s += gs[g];
      cum_b += gb[g];
      es[g + 1] = (double)cum_s / (double)ws;
      eb[g + 1] = (double)cum_b / (double)wb;
    }
    auc[n_valid] = auc2 / (2.0 * (double)ws * (double)wb);
    for (size_t e = 0; e < n_eps; e++) {
      double b = eps_b_at(es, eb, n_groups + 1, eps_s[e]);
      rej[e * n_replicas + n_valid] = b > 0.0 ? 1.0 / b : INFINITY;
    }
    n_valid++;
  }
  if (n_valid < 2) {
    rc = jc_fail(err, JC_ERR_DATA, "bootstrap: fewer than 2 of %zu replicas contain both classes "
                 "(too few jets)", n_replicas);
    goto done;
  }
  size_t unused;
  r->n_replicas = n_valid;
  r->auc_std = finite_std(auc, n_valid, &unused);
  r->n_eps = n_eps;
  for (size_t e = 0; e < n_eps; e++) {
    r->eps_s[e] = eps_s[e];
    r->rejection_std[e] = finite_std(rej + e * n_replicas, n_valid, &r->n_finite[e]);
  }
  *out = r;
  r = NULL;
  rc = JC_OK;
done:
  roc_bootstrap_free(&r);
  free(rej);
  free(auc);
  free(eb);
  free(es);
  free(gb);
  free(gs);
  free(jets);
  return rc;
}

double roc_rejection_binomial_err(double eps_b, uint64_t n_background) {
  if (!(eps_b > 0.0) || n_background == 0) return INFINITY;
  return (1.0 / eps_b) * sqrt((1.0 - eps_b) / (eps_b * (double)n_background));
}

double roc_accuracy(const float *score, const int32_t *label, size_t n, double cut) {
  if (n == 0) return NAN;
  size_t right = 0;
  for (size_t i = 0; i < n; i++) right += ((double)score[i] >= cut) == (label[i] == 1);
  return (double)right / (double)n;
}
