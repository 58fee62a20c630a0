/* baselines.h - physics baselines a top tagger is compared with (docs/roc.md "Baselines"):
 * single jet observables cut from their top-like end, window cuts, and the likelihood ratio of
 * (jet mass, tau32). Every score follows roc.h: higher = more top-like.
 */
#ifndef JETCNN_BASELINES_H
#define JETCNN_BASELINES_H

#include <stddef.h>
#include <stdint.h>

#include "jetcnn/error.h"
#include "jetcnn/scores.h"

/* N-subjettiness ratio per jet: out[i] = num[i] / den[i], e.g. tau32 = tau3 / tau2; 1 (the
 * QCD-like end) when den[i] = 0, i.e. a jet with too few constituents for that many prongs.
 * out may be num. */
void baseline_tau_ratio(const float *num, const float *den, size_t n, float *out);

/* The values of observable NAME for the jets of f, as a new array (caller frees): "tau32" and
 * "tau21" from /tau3, /tau2, /tau1 (baseline_tau_ratio; *low_is_top = 1), any other name the
 * 1-D dataset of that name (jet_mass, ...: *low_is_top = 0). NULL with err set (JC_ERR_DATA
 * naming the file and dataset) when a dataset is missing, of the wrong shape, or NaN. */
float *baseline_observable(const scores_file *f, const char *name, int *low_is_top, jc_err *err);

/* Window cut as a score, in place: x[i] = 1 if lo <= x[i] <= hi, else 0. */
void baseline_window(float *x, size_t n, double lo, double hi);

/* Select only jets with lo <= mass[i] <= hi: score[i] = -INFINITY (never selected) outside. */
void baseline_mass_window(float *score, const float *mass, size_t n, double lo, double hi);

/* Likelihood ratio of (mass, tau32), score = ln(p_top / p_QCD), cross-fitted in two folds:
 * the class densities are estimated on the even jets to score the odd ones and vice versa, so
 * no jet is scored by densities made from it. Each density is a Gaussian kernel estimate
 * (bandwidth by Scott's rule) in the coordinates u = F(mass), v = F(tau32), F the fold's
 * empirical distribution, binned on a grid of `grid` x `grid` cells, plus a floor of one jet
 * spread evenly, so every score is finite and almost all are distinct (docs/roc.md).
 * grid in [2, 4096] (100 is plenty). *out (n) is a new array owned by the caller. Fails
 * (JC_ERR_DATA) when a fold holds only one class or a value is not finite. */
jc_code baseline_likelihood(const float *mass, const float *tau32, const int32_t *label, size_t n, int grid,
                            float **out, jc_err *err);

#endif
