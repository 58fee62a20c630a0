/* test_baselines.c - the physics baselines of src/baselines.c: on hand-made jets with known
 * answers, N-subjettiness ratios (1 for a zero denominator), window and mass-window cuts and the
 * likelihood's refusals; on jets drawn from a known (mass, tau32) density, the likelihood
 * baseline against the true likelihood ratio and against each variable alone, fold by fold.
 * Exits non-zero when a check failed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jetcnn/baselines.h"
#include "jetcnn/roc.h"

#include "gen_check.h"


static void cuts(void) {
  /* tau32 = tau3 / tau2; a jet with tau2 = 0 (at most two constituents) gets 1 */
  float tau3[] = {0.1f, 0.3f, 0.0f, 0.0f, 0.5f}, tau2[] = {0.2f, 0.4f, 0.0f, 0.1f, 0.5f}, r[5];
  baseline_tau_ratio(tau3, tau2, 5, r);
  float want[] = {0.5f, 0.75f, 1.0f, 0.0f, 1.0f};
  for (int i = 0; i < 5; i++) CHECK(r[i] == want[i], "tau ratio of jet %d: %g, expected %g", i, r[i], want[i]);
  baseline_tau_ratio(tau3, tau2, 5, tau3); /* in place */
  CHECK(memcmp(tau3, want, sizeof want) == 0, "tau ratio in place differs");

  /* window: inclusive at both ends */
  float x[] = {149.9f, 150.0f, 175.0f, 200.0f, 200.1f, -INFINITY};
  baseline_window(x, 6, 150.0, 200.0);
  float in[] = {0, 1, 1, 1, 0, 0};
  CHECK(memcmp(x, in, sizeof in) == 0, "window: %g %g %g %g %g %g", x[0], x[1], x[2], x[3], x[4], x[5]);

  /* mass window: jets outside never pass, jets inside keep their score; NaN mass is outside */
  float s[] = {0.9f, 0.8f, 0.7f, 0.6f}, mass[] = {100.0f, 160.0f, 250.0f, NAN};
  baseline_mass_window(s, mass, 4, 150.0, 200.0);
  CHECK(s[0] == -INFINITY && s[1] == 0.8f && s[2] == -INFINITY && s[3] == -INFINITY, "mass window: %g %g %g %g", s[0],
        s[1], s[2], s[3]);
}

static void likelihood_refusals(void) {
  float mass[] = {1, 2, 3, 4, 5, 6}, tau[] = {6, 5, 4, 3, 2, 1};
  int32_t one_class_even[] = {1, 0, 1, 1, 1, 0}; /* even jets all top */
  float *out = (float *)1;
  jc_err err;
  jc_err_clear(&err);
  CHECK(baseline_likelihood(mass, tau, one_class_even, 6, 2, &out, &err) == JC_ERR_DATA, "one class per fold accepted");
  CHECK(out == NULL, "output set on failure");
  CHECK(strstr(err.msg, "even jets hold only one class"), "message: %s", err.msg);
}

/* ---- the likelihood on a known density ---------------------------------------------------- */

static uint64_t rng_state;

static double uniform(void) { /* splitmix64 -> (0, 1) */
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return ((double)((z ^ (z >> 31)) >> 11) + 0.5) * 0x1.0p-53;
}

static double normal(void) { return sqrt(-2.0 * log(uniform())) * cos(6.283185307179586 * uniform()); }

/* log of the normal density N(x; mu, sigma) */
static double log_normal(double x, double mu, double sigma) {
  return -0.5 * (x - mu) * (x - mu) / (sigma * sigma) - log(sigma) - 0.9189385332046727;
}

/* The model, about as separable as the demo's jets (AUC 0.87 and 0.74 alone, 0.975 together):
 * top jets m ~ N(172, 30), tau32 | m ~ N(0.55 + 0.002 (m - 172), 0.12); QCD jets
 * m - 20 ~ Exp(mean 70), tau32 | m ~ N(0.68 + 0.001 (m - 90), 0.13). Both variables separate
 * the classes, and they are correlated within each class. */
static void draw(int top, float *m, float *t) {
  if (top) {
    *m = (float)(172.0 + 30.0 * normal());
    *t = (float)(0.55 + 0.002 * (*m - 172.0) + 0.12 * normal());
  } else {
    *m = (float)(20.0 - 70.0 * log(uniform()));
    *t = (float)(0.68 + 0.001 * (*m - 90.0) + 0.13 * normal());
  }
}

static double true_log_ratio(float m, float t) {
  double top = log_normal(m, 172.0, 30.0) + log_normal(t, 0.55 + 0.002 * (m - 172.0), 0.12);
  double qcd = m > 20.0f ? -(m - 20.0) / 70.0 - log(70.0) + log_normal(t, 0.68 + 0.001 * (m - 90.0), 0.13) : -INFINITY;
  return top - qcd;
}

static double auc_of(const float *score, const int32_t *label, size_t n) {
  double auc = NAN;
  jc_err err;
  if (roc_metrics(score, label, n, 0.3, &auc, NULL, &err) != JC_OK) CHECK(0, "roc_metrics: %s", err.msg);
  return auc;
}

/* The n jets i with i % 2 == fold of x, into out. */
static size_t half(const void *x, size_t elem, size_t n, size_t fold, void *out) {
  size_t k = 0;
  for (size_t i = fold; i < n; i += 2, k++) memcpy((char *)out + k * elem, (const char *)x + i * elem, elem);
  return k;
}

static void likelihood_known(void) {
  enum { N = 40000 };
  static float m[N], t[N], neg_t[N], like[N], truth[N], hm[N], ht[N], hl[N];
  static int32_t label[N], flipped[N], hlab[N];
  rng_state = 20261202;
  for (size_t i = 0; i < N; i++) {
    label[i] = uniform() < 0.5;
    flipped[i] = 1 - label[i];
    draw(label[i], &m[i], &t[i]);
    neg_t[i] = -t[i];
    truth[i] = (float)true_log_ratio(m[i], t[i]);
  }
  float *score = NULL;
  jc_err err;
  jc_err_clear(&err);
  CHECK(baseline_likelihood(m, t, label, N, 100, &score, &err) == JC_OK, "likelihood: %s", err.msg);
  if (!score) return;
  memcpy(like, score, sizeof like);
  free(score);

  /* Each half is scored by the densities of the other: there, it beats each variable alone. */
  for (size_t fold = 0; fold < 2; fold++) {
    size_t k = half(m, sizeof *m, N, fold, hm);
    half(neg_t, sizeof *t, N, fold, ht);
    half(like, sizeof *like, N, fold, hl);
    half(label, sizeof *label, N, fold, hlab);
    double a_like = auc_of(hl, hlab, k), a_m = auc_of(hm, hlab, k), a_t = auc_of(ht, hlab, k);
    CHECK(a_like >= a_m && a_like >= a_t, "fold %zu: likelihood AUC %.5f below mass %.5f or tau32 %.5f", fold, a_like,
          a_m, a_t);
  }
  /* Close to the true likelihood ratio, the best any score can do. */
  roc_curve *c = NULL, *best = NULL;
  CHECK(roc_curve_compute(like, label, N, &c, &err) == JC_OK && roc_curve_compute(truth, label, N, &best, &err) == JC_OK,
        "curves: %s", err.msg);
  if (!c || !best) return;
  CHECK(fabs(c->auc - best->auc) < 0.003, "likelihood AUC %.5f, true likelihood ratio %.5f", c->auc, best->auc);
  for (double e = 0.3; e < 0.95; e += 0.2) { /* below 0.3 too few QCD jets pass to compare */
    double r = roc_rejection_at(c, e), r_best = roc_rejection_at(best, e);
    CHECK(r > 0.75 * r_best, "rejection at eps_S = %.1f: %.1f, true likelihood ratio %.1f", e, r, r_best);
  }
  /* The curve covers eps_S from 0.05 up: no score is shared by more than 0.2 % of the top jets. */
  CHECK(c->eps_s[1] <= 0.05, "the curve starts at eps_S = %.4f", c->eps_s[1]);
  double widest = 0.0;
  for (size_t p = 1; p < c->n_points; p++) widest = fmax(widest, c->eps_s[p] - c->eps_s[p - 1]);
  CHECK(widest < 0.002, "one score holds a fraction %.4f of the top jets", widest);
  printf("likelihood on a known density: AUC %.5f (true ratio %.5f), 1/eps_B at 0.3: %.1f (true %.1f)\n", c->auc,
         best->auc, roc_rejection_at(c, 0.3), roc_rejection_at(best, 0.3));
  roc_curve_free(&c);
  roc_curve_free(&best);

  /* The classes swapped: the log ratio changes sign, exactly. */
  CHECK(baseline_likelihood(m, t, flipped, N, 100, &score, &err) == JC_OK, "likelihood: %s", err.msg);
  size_t bad = 0;
  for (size_t i = 0; score && i < N; i++) bad += score[i] != -like[i];
  CHECK(score && bad == 0, "%zu scores are not the negatives with the classes swapped", bad);
  free(score);

  /* Ties and point masses (mass in whole GeV, 10 % of the jets at tau32 = 1 as jets without a
   * tau2): still no large groups of equal scores, still better than each variable. */
  for (size_t i = 0; i < N; i++) {
    m[i] = roundf(m[i]);
    if (i % 10 == 3) t[i] = 1.0f;
    neg_t[i] = -t[i];
  }
  CHECK(baseline_likelihood(m, t, label, N, 100, &score, &err) == JC_OK, "likelihood: %s", err.msg);
  if (!score) return;
  CHECK(roc_curve_compute(score, label, N, &c, &err) == JC_OK, "curve: %s", err.msg);
  double a_m = auc_of(m, label, N), a_t = auc_of(neg_t, label, N);
  CHECK(c && c->auc > a_m && c->auc > a_t, "with ties: AUC %.5f, mass %.5f, tau32 %.5f", c ? c->auc : NAN, a_m, a_t);
  CHECK(c && c->eps_s[1] <= 0.05, "with ties: the curve starts at eps_S = %.4f", c ? c->eps_s[1] : NAN);
  roc_curve_free(&c);
  free(score);
}

int main(void) {
  cuts();
  likelihood_refusals();
  likelihood_known();
  return check_report("test_baselines");
}
