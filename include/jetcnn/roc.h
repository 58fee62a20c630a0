/* roc.h - exact ROC curves, AUC and background rejection for a binary tagger.
 *
 * Scores: higher = more signal-like. Labels: 1 = signal (top), 0 = background (QCD).
 * Everything is exact: jets are sorted once by score (O(n log n); a radix sort, so millions of
 * jets take well under a second), jets with equal scores form one step of the curve, and the
 * AUC counts ties as 1/2. Nothing is binned. docs/roc.md gives the formulas.
 *
 * The curve has one point per distinct score plus the origin: point i selects the jets with
 * score >= threshold[i]; threshold[0] = +INFINITY selects nothing. eps_s and eps_b are then
 * non-decreasing in i and end at (1, 1).
 */
#ifndef JETCNN_ROC_H
#define JETCNN_ROC_H

#include <stddef.h>
#include <stdint.h>

#include "jetcnn/error.h"

typedef struct {
  size_t n_points;   /* distinct scores + 1 */
  double *threshold; /* (n_points) decreasing; threshold[0] = +INFINITY */
  double *eps_s;     /* (n_points) signal efficiency: selected signal / all signal */
  double *eps_b;     /* (n_points) background efficiency: selected background / all background */
  uint64_t n_signal, n_background;
  double auc;        /* exact, ties count 1/2 */
} roc_curve;

/* Exact AUC (ties count 1/2) and background rejection 1/eps_B at signal efficiency eps_s
 * (linear interpolation on the exact ROC curve), from per-jet scores (higher = more
 * signal-like) and labels (1 = signal/top, 0 = background/QCD). Fails (JC_ERR_DATA) on NaN
 * scores, on labels other than 0/1, or when only one class is present; *rejection is
 * +INFINITY when eps_B = 0 there. eps_s must lie in [0, 1]. auc or rejection may be NULL. */
jc_code roc_metrics(const float *score, const int32_t *label, size_t n, double eps_s,
                    double *auc, double *rejection, jc_err *err);

/* Build the exact ROC curve of n jets. Same checks as roc_metrics(). On success *out is a new
 * curve owned by the caller (free with roc_curve_free); on failure *out is NULL. */
jc_code roc_curve_compute(const float *score, const int32_t *label, size_t n, roc_curve **out,
                          jc_err *err);

/* Free a curve from roc_curve_compute()/roc_curve_thin() and set *curve = NULL; NULL is fine. */
void roc_curve_free(roc_curve **curve);

/* Background efficiency at signal efficiency eps_s in [0, 1], interpolated linearly in eps_s
 * between the last point below eps_s and the first point at or above it. */
double roc_eps_b_at(const roc_curve *curve, double eps_s);

/* 1 / roc_eps_b_at(curve, eps_s); +INFINITY when that efficiency is 0. */
double roc_rejection_at(const roc_curve *curve, double eps_s);

/* Score threshold of the first curve point with eps_s >= the requested eps_s (the cut
 * "score >= threshold" reaching that signal efficiency). */
double roc_threshold_at(const roc_curve *curve, double eps_s);

/* Index of that point: its threshold, eps_s and eps_b are those of the cut. */
size_t roc_point_at(const roc_curve *curve, double eps_s);

/* A copy of curve with at most max_points points (max_points >= 16) that keeps its shape in
 * (eps_s, eps_b) and in log(eps_b): collinear points are dropped first (lossless), then a point
 * is kept only once it has moved far enough from the last kept one in eps_s, eps_b or
 * log10(eps_b), together with the exact point just before it (the staircase corner). The first
 * and last points and the last point with eps_b = 0 are always kept. Every kept point is a
 * point of the exact curve; AUC and counts are copied. *out is owned by the caller. */
jc_code roc_curve_thin(const roc_curve *curve, size_t max_points, roc_curve **out, jc_err *err);

/* Statistical uncertainties of AUC and rejections, from a Poisson bootstrap: each replica
 * weights every jet by an independent Poisson(1) count and recomputes the exact weighted curve
 * (the jets are sorted once, so one replica costs O(n)). */
typedef struct {
  size_t n_replicas;
  double auc_std;              /* standard deviation of the AUC over the replicas */
  size_t n_eps;
  double *eps_s;               /* (n_eps) the working points asked for */
  double *rejection_std;       /* (n_eps) std of 1/eps_b over replicas with finite rejection */
  size_t *n_finite;            /* (n_eps) replicas with eps_b > 0 at that working point */
} roc_bootstrap_result;

/* Run n_replicas (>= 2) bootstrap replicas of the n jets with the given seed; the result is
 * a pure function of (score, label, eps_s, n_replicas, seed). *out is owned by the caller
 * (free with roc_bootstrap_free). */
jc_code roc_bootstrap(const float *score, const int32_t *label, size_t n, const double *eps_s,
                      size_t n_eps, size_t n_replicas, uint64_t seed, roc_bootstrap_result **out,
                      jc_err *err);

/* Free a bootstrap result and set *result = NULL; NULL is fine. */
void roc_bootstrap_free(roc_bootstrap_result **result);

/* Binomial uncertainty of the rejection R = 1/eps_b at fixed eps_s, from the number of
 * background jets n_background: sigma_R = R * sqrt((1 - eps_b) / (eps_b * n_background)).
 * Ignores the (smaller) fluctuation of the threshold. +INFINITY when eps_b = 0. */
double roc_rejection_binomial_err(double eps_b, uint64_t n_background);

/* Fraction of jets classified correctly by the cut "score >= cut" (1 = signal). */
double roc_accuracy(const float *score, const int32_t *label, size_t n, double cut);

#endif
