/* sculpt.h - what one cut on a tagger's score does beyond eps_S and eps_B: how it sculpts the
 * background's jet-mass distribution (the Jensen-Shannon divergence between the QCD jets that
 * pass and those that fail), and its efficiencies in bins of the jets' kinematics. Definitions:
 * docs/roc.md "Sculpting and binned efficiencies".
 *
 * A jet passes when (double)score >= threshold (the cut of a working point, roc_threshold_at()).
 * Bin edges are strictly increasing; bin k is [edges[k], edges[k+1]).
 */
#ifndef JETCNN_SCULPT_H
#define JETCNN_SCULPT_H

#include <stddef.h>
#include <stdint.h>

/* Histogram slot of x among n_edges edges: 0 below edges[0] (underflow), k + 1 for
 * edges[k] <= x < edges[k+1], n_edges at or above the last edge or NaN (overflow). */
size_t sculpt_slot(double x, const double *edges, size_t n_edges);

/* Jensen-Shannon divergence of the distributions with counts p and q (n bins each, normalised
 * here), with base-2 logarithms, so that it lies in [0, 1]:
 *   JSD = 1/2 sum_i P_i log2(P_i / M_i) + 1/2 sum_i Q_i log2(Q_i / M_i),  M = (P + Q) / 2,
 * terms with P_i = 0 (Q_i = 0) being 0. NAN when p or q holds no entry. */
double sculpt_jsd(const uint64_t *p, const uint64_t *q, size_t n);

/* The jet-mass histograms of the background jets (label 0) that pass and that fail the cut:
 * pass and fail have n_edges + 1 slots (sculpt_slot: underflow, the bins, overflow). */
void sculpt_mass_hist(const float *score, const int32_t *label, const float *mass, size_t n, double threshold,
                      const double *edges, size_t n_edges, uint64_t *pass, uint64_t *fail);

/* The cut's efficiencies among the jets of one bin. */
typedef struct {
  double lo, hi;                 /* the bin [lo, hi) */
  uint64_t n_signal, n_signal_pass, n_background, n_background_pass;
  double eps_s, eps_s_err;       /* pass / all top jets, binomial sqrt(eps (1 - eps) / n); NAN without top jets */
  double eps_b, eps_b_err;       /* the same for QCD jets; NAN without QCD jets */
  double eps_b_upper68;          /* no QCD jet passes: the 68 % CL upper limit on eps_b, 1 - 0.32^(1/n_b); else NAN */
  double rejection;              /* 1 / eps_b; INFINITY when no QCD jet passes; NAN without QCD jets */
  double rejection_err;          /* eps_b_err / eps_b^2 (binomial); NAN when none passes */
  double rejection_lower68;      /* no QCD jet passes: 1 / eps_b_upper68, the 68 % CL lower limit; else NAN */
} sculpt_bin;

/* Efficiencies of the cut in the n_edges - 1 bins of x (jets outside every bin, or with NaN x,
 * are not counted): bins has n_edges - 1 entries, filled here. */
void sculpt_binned(const float *score, const int32_t *label, const float *x, size_t n, double threshold,
                   const double *edges, size_t n_edges, sculpt_bin *bins);

/* The 68 % CL upper limit on an efficiency when none of n jets passes (Clopper-Pearson,
 * one-sided): the p with (1 - p)^n = 0.32. NAN for n = 0. */
double sculpt_upper68_none_pass(uint64_t n);

#endif
