/* test_roc.c - roc_metrics and friends on hand-made cases with known answers, and against a
 * naive O(n^2) AUC and an O(n) count per threshold on random scores with ties, negative
 * values and infinities. Exits non-zero on the first failure. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jetcnn/roc.h"

#include "gen_check.h"


static int close_to(double a, double b) {
  if (isinf(a) || isinf(b)) return a == b;
  return fabs(a - b) <= 1e-12 * fmax(1.0, fabs(b));
}

/* Expect roc_metrics to succeed with the given AUC and rejection at eps_s. */
static void expect(const char *name, const float *s, const int32_t *l, size_t n, double eps_s,
                   double auc_ref, double rej_ref) {
  jc_err err;
  jc_err_clear(&err);
  double auc = -1, rej = -1;
  jc_code rc = roc_metrics(s, l, n, eps_s, &auc, &rej, &err);
  CHECK(rc == JC_OK, "%s: failed: %s", name, err.msg);
  CHECK(close_to(auc, auc_ref), "%s: AUC %.17g, expected %.17g", name, auc, auc_ref);
  CHECK(close_to(rej, rej_ref), "%s: rejection at %g is %.17g, expected %.17g", name, eps_s, rej, rej_ref);
}

/* Expect roc_metrics to fail with JC_ERR_DATA and a message containing `words`. */
static void expect_error(const char *name, const float *s, const int32_t *l, size_t n, const char *words) {
  jc_err err;
  jc_err_clear(&err);
  double auc = -1, rej = -1;
  jc_code rc = roc_metrics(s, l, n, 0.3, &auc, &rej, &err);
  CHECK(rc == JC_ERR_DATA, "%s: returned %d, expected JC_ERR_DATA", name, (int)rc);
  CHECK(strstr(err.msg, words) != NULL, "%s: message '%s' does not mention '%s'", name, err.msg, words);
}

static void hand_made(void) {
  /* perfect: every top jet above every QCD jet; no background at any eps_s < 1 */
  float s1[] = {0.9f, 0.1f, 0.8f, 0.2f};
  int32_t l1[] = {1, 0, 1, 0};
  expect("perfect", s1, l1, 4, 0.5, 1.0, INFINITY);
  expect("perfect eps_s=1", s1, l1, 4, 1.0, 1.0, INFINITY);
  /* inverted: points (eps_s, eps_b) = (0,0) (0,.5) (0,1) (.5,1) (1,1) */
  int32_t l2[] = {0, 1, 0, 1};
  expect("inverted", s1, l2, 4, 0.5, 0.0, 1.0);
  /* all scores equal: the curve is the diagonal, eps_b = eps_s */
  float s3[] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
  int32_t l3[] = {1, 0, 0, 1, 1};
  expect("all equal", s3, l3, 5, 0.3, 0.5, 1.0 / 0.3);
  /* alternating: (0,0) (.25,0) (.25,.25) (.5,.25) (.5,.5) ...; 10 of 16 pairs ordered */
  float s4[] = {0.9f, 0.8f, 0.7f, 0.6f, 0.5f, 0.4f, 0.3f, 0.2f};
  int32_t l4[] = {1, 0, 1, 0, 1, 0, 1, 0};
  expect("alternating 0.3", s4, l4, 8, 0.3, 10.0 / 16.0, 4.0);
  expect("alternating 0.25", s4, l4, 8, 0.25, 10.0 / 16.0, INFINITY);
  /* interpolation inside a diagonal step: (0,0) (.5,0) (1,1); at .75 eps_b = .5 */
  float s5[] = {0.9f, 0.1f, 0.1f};
  int32_t l5[] = {1, 1, 0};
  expect("diagonal step", s5, l5, 3, 0.75, 0.75, 2.0);
  /* a tie between classes counts 1/2: pairs (.5,.5)=.5 (.5,.1)=1 (.9,.5)=1 (.9,.1)=1 */
  /* curve (0,0) (.5,0) (1,.5) (1,1): at eps_s = .75, eps_b = .25 */
  float s6[] = {0.5f, 0.9f, 0.5f, 0.1f};
  int32_t l6[] = {1, 1, 0, 0};
  expect("tie", s6, l6, 4, 0.75, 3.5 / 4.0, 4.0);
  /* -0 and +0 are the same score */
  float s7[] = {-0.0f, 0.0f};
  int32_t l7[] = {1, 0};
  expect("signed zero", s7, l7, 2, 0.5, 0.5, 2.0);
  /* infinite scores sort like any other: order +inf(s) 1e30(b) -1e30(s) -inf(b), 3 of 4 pairs */
  float s8[] = {INFINITY, -INFINITY, -1e30f, 1e30f};
  int32_t l8[] = {1, 0, 1, 0};
  expect("infinities", s8, l8, 4, 0.75, 0.75, 2.0);

  expect_error("one class", s1, l1 + 0, 1, "only one class");
  int32_t all_top[] = {1, 1, 1, 1};
  expect_error("only top", s1, all_top, 4, "only one class");
  expect_error("no jets", s1, l1, 0, "only one class");
  float s9[] = {0.1f, NAN, 0.3f, 0.4f};
  expect_error("NaN", s9, l1, 4, "NaN");
  int32_t l10[] = {1, 0, 2, 0};
  expect_error("label 2", s1, l10, 4, "label of jet 2 is 2");

  jc_err err;
  jc_err_clear(&err);
  CHECK(roc_metrics(s1, l1, 4, 1.5, NULL, NULL, &err) == JC_ERR_USAGE, "eps_s 1.5 accepted");
}

/* A small deterministic generator for the test data. */
static uint64_t rng_state = 12345;
static double uniform(void) {
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(rng_state >> 11) * 0x1.0p-53;
}

/* Random scores: a bell shape (sum of three uniforms) shifted up for signal, so the classes
 * overlap everywhere; rounded to `levels` values per unit when levels > 0 (ties). */
static void random_jets(float *s, int32_t *l, size_t n, int levels) {
  for (size_t i = 0; i < n; i++) {
    l[i] = uniform() < 0.4;
    double x = uniform() + uniform() + uniform() + 0.8 * l[i] - 1.5;
    if (levels > 0) x = floor(x * levels) / levels;
    s[i] = (float)x;
  }
}

/* n new random jets (caller frees *s and *l). */
static void make_jets(size_t n, int levels, float **s, int32_t **l) {
  *s = malloc(n * sizeof **s);
  *l = malloc(n * sizeof **l);
  if (!*s || !*l) {
    fprintf(stderr, "out of memory for %zu test jets\n", n);
    exit(1);
  }
  random_jets(*s, *l, n, levels);
}

static void against_naive(size_t n, int levels) {
  float *s;
  int32_t *l;
  make_jets(n, levels, &s, &l);
  if (n > 3) {
    s[0] = INFINITY;
    s[1] = -INFINITY;
  }
  double pairs = 0, n_s = 0, n_b = 0;
  for (size_t i = 0; i < n; i++) {
    if (l[i]) n_s++;
    else n_b++;
    if (!l[i]) continue;
    for (size_t j = 0; j < n; j++)
      if (!l[j]) pairs += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
  }
  jc_err err;
  jc_err_clear(&err);
  roc_curve *c = NULL;
  jc_code rc = roc_curve_compute(s, l, n, &c, &err);
  CHECK(rc == JC_OK, "random n=%zu: %s", n, err.msg);
  if (rc != JC_OK) goto done;
  CHECK(fabs(c->auc - pairs / (n_s * n_b)) < 1e-12, "random n=%zu levels=%d: AUC %.15g vs naive %.15g", n,
        levels, c->auc, pairs / (n_s * n_b));
  CHECK(c->eps_s[0] == 0 && c->eps_b[0] == 0 && isinf(c->threshold[0]), "curve does not start at the origin");
  CHECK(c->eps_s[c->n_points - 1] == 1 && c->eps_b[c->n_points - 1] == 1, "curve does not end at (1, 1)");
  for (size_t p = 1; p < c->n_points; p++) {
    /* (threshold[0] = +inf selects nothing by convention; a jet scored +inf is at point 1) */
    CHECK(c->threshold[p] < c->threshold[p - 1] || (p == 1 && isinf(c->threshold[1])),
          "thresholds not strictly decreasing at %zu", p);
    double sel_s = 0, sel_b = 0;
    for (size_t i = 0; i < n; i++)
      if (s[i] >= c->threshold[p]) {
        if (l[i]) sel_s++;
        else sel_b++;
      }
    CHECK(c->eps_s[p] == sel_s / n_s && c->eps_b[p] == sel_b / n_b, "point %zu: (%g, %g) vs counted (%g, %g)", p,
          c->eps_s[p], c->eps_b[p], sel_s / n_s, sel_b / n_b);
    if (failures > 20) break;
  }
  roc_curve_free(&c);
  CHECK(c == NULL, "roc_curve_free does not clear the pointer");
done:
  free(s);
  free(l);
}

static void thinning(void) {
  size_t n = 200000;
  float *s;
  int32_t *l;
  make_jets(n, 0, &s, &l);
  jc_err err;
  jc_err_clear(&err);
  roc_curve *c = NULL, *t = NULL;
  CHECK(roc_curve_compute(s, l, n, &c, &err) == JC_OK, "%s", err.msg);
  CHECK(c && roc_curve_thin(c, 1000, &t, &err) == JC_OK, "%s", err.msg);
  if (c && t) {
    CHECK(t->n_points <= 1000 && t->n_points > 100, "thinned to %zu points", t->n_points);
    CHECK(t->eps_s[0] == 0 && t->eps_b[t->n_points - 1] == 1, "end points lost");
    /* every kept point is an exact point, and the thinned curve stays close to the exact one */
    size_t j = 0;
    for (size_t p = 0; p < t->n_points; p++) {
      while (j < c->n_points && c->threshold[j] != t->threshold[p]) j++;
      CHECK(j < c->n_points && c->eps_s[j] == t->eps_s[p] && c->eps_b[j] == t->eps_b[p],
            "thinned point %zu is not on the exact curve", p);
    }
    double worst = 0;
    for (double e = 0.05; e <= 0.95; e += 0.01) {
      double a = roc_eps_b_at(c, e), b = roc_eps_b_at(t, e);
      worst = fmax(worst, fabs(b - a));
      /* thinning moves the rejection by less than half its statistical uncertainty */
      double ra = roc_rejection_at(c, e), rb = roc_rejection_at(t, e);
      double sigma = roc_rejection_binomial_err(a, c->n_background);
      CHECK((isinf(ra) && isinf(rb)) || fabs(rb - ra) < 0.5 * sigma,
            "rejection at %.2f: thinned %g vs exact %g +- %g", e, rb, ra, sigma);
    }
    CHECK(worst < 3e-3, "thinned eps_b differs by %g", worst);
  }
  roc_curve_free(&t);
  roc_curve_free(&c);
  free(s);
  free(l);
}

static void bootstrap(void) {
  double eps[2] = {0.3, 0.5};
  size_t n = 40000;
  float *s;
  int32_t *l;
  make_jets(4 * n, 0, &s, &l);
  jc_err err;
  jc_err_clear(&err);
  roc_bootstrap_result *a = NULL, *b = NULL, *big = NULL;
  CHECK(roc_bootstrap(s, l, n, eps, 2, 200, 7, &a, &err) == JC_OK, "%s", err.msg);
  CHECK(roc_bootstrap(s, l, n, eps, 2, 200, 7, &b, &err) == JC_OK, "%s", err.msg);
  CHECK(roc_bootstrap(s, l, 4 * n, eps, 2, 200, 7, &big, &err) == JC_OK, "%s", err.msg);
  if (a && b && big) {
    CHECK(a->auc_std == b->auc_std && a->rejection_std[0] == b->rejection_std[0], "bootstrap not reproducible");
    /* Hanley & McNeil (1982) standard error of the AUC, an independent estimate */
    double auc = 0, rej = 0;
    roc_metrics(s, l, n, 0.3, &auc, &rej, &err);
    double n1 = 0;
    for (size_t i = 0; i < n; i++) n1 += l[i];
    double n0 = (double)n - n1, q1 = auc / (2 - auc), q2 = 2 * auc * auc / (1 + auc);
    double se = sqrt((auc * (1 - auc) + (n1 - 1) * (q1 - auc * auc) + (n0 - 1) * (q2 - auc * auc)) / (n1 * n0));
    CHECK(a->auc_std > 0.7 * se && a->auc_std < 1.3 * se, "bootstrap AUC std %g vs Hanley-McNeil %g", a->auc_std, se);
    /* four times the jets, half the spread */
    double ratio = big->auc_std / a->auc_std;
    CHECK(ratio > 0.35 && ratio < 0.65, "AUC std ratio for 4x the jets is %g", ratio);
    ratio = big->rejection_std[0] / a->rejection_std[0];
    CHECK(ratio > 0.35 && ratio < 0.65, "rejection std ratio for 4x the jets is %g", ratio);
    /* the binomial estimate is of the same order as the bootstrap one */
    roc_curve *c = NULL;
    roc_curve_compute(s, l, n, &c, &err);
    double bin = roc_rejection_binomial_err(roc_eps_b_at(c, 0.3), c->n_background);
    CHECK(bin > 0.3 * a->rejection_std[0] && bin < 3 * a->rejection_std[0], "binomial %g vs bootstrap %g", bin,
          a->rejection_std[0]);
    roc_curve_free(&c);
  }
  roc_bootstrap_free(&a);
  roc_bootstrap_free(&b);
  roc_bootstrap_free(&big);
  /* a perfect classifier stays perfect in every replica */
  float sp[] = {0.9f, 0.1f, 0.8f, 0.2f, 0.7f, 0.3f};
  int32_t lp[] = {1, 0, 1, 0, 1, 0};
  CHECK(roc_bootstrap(sp, lp, 6, eps, 2, 50, 1, &a, &err) == JC_OK, "%s", err.msg);
  if (a) CHECK(a->auc_std == 0.0 && a->n_finite[0] == 0, "perfect: AUC std %g, %zu finite rejections", a->auc_std,
               a->n_finite[0]);
  roc_bootstrap_free(&a);
  free(s);
  free(l);
}

static void speed(void) {
  size_t n = 4000000;
  float *s;
  int32_t *l;
  make_jets(n, 0, &s, &l);
  jc_err err;
  jc_err_clear(&err);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  double auc = 0, rej = 0;
  CHECK(roc_metrics(s, l, n, 0.3, &auc, &rej, &err) == JC_OK, "%s", err.msg);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double sec = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
  printf("roc_metrics on %zu jets: %.3f s (AUC %.4f, 1/eps_b(0.3) %.2f)\n", n, sec, auc, rej);
  CHECK(sec < 5.0, "roc_metrics on %zu jets took %.1f s", n, sec);
  free(s);
  free(l);
}

int main(void) {
  hand_made();
  against_naive(50, 4);
  against_naive(300, 0);
  against_naive(1000, 20);
  against_naive(2000, 3);
  thinning();
  bootstrap();
  speed();
  return check_report("test_roc");
}
