/* test_sculpt.c - src/sculpt.c on cases with answers known by hand: histogram slots at and
 * around the edges, the Jensen-Shannon divergence (0 for equal shapes, 1 bit for disjoint ones,
 * a two-bin case in closed form, symmetry), the QCD pass/fail histograms, binned efficiencies
 * with their binomial errors, and the 68 % upper limit when no QCD jet passes. Exits non-zero
 * when a check failed. (tests/roc_sculpting.py checks the same end to end against numpy.) */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "jetcnn/sculpt.h"

#include "gen_check.h"

static int near(double a, double b) { return fabs(a - b) <= 1e-12 * fmax(1.0, fabs(b)); }

static void slots(void) {
  const double e[] = {0.0, 50.0, 100.0};
  struct { double x; size_t slot; } c[] = {{-1, 0}, {-0.0, 1}, {0, 1}, {49.999, 1}, {50, 2}, {99.9, 2},
                                           {100, 3}, {1e30, 3}, {NAN, 3}, {-INFINITY, 0}, {INFINITY, 3}};
  for (size_t k = 0; k < sizeof c / sizeof c[0]; k++)
    CHECK(sculpt_slot(c[k].x, e, 3) == c[k].slot, "slot of %g is %zu, expected %zu", c[k].x, sculpt_slot(c[k].x, e, 3),
          c[k].slot);
}

static void jsd(void) {
  uint64_t a[] = {10, 20, 30, 0}, b[] = {1, 2, 3, 0}, c[] = {0, 0, 0, 7}, z[] = {0, 0, 0, 0};
  CHECK(sculpt_jsd(a, b, 4) == 0.0, "equal shapes: JSD %g", sculpt_jsd(a, b, 4));
  CHECK(near(sculpt_jsd(a, c, 4), 1.0), "disjoint: JSD %.17g, expected 1 bit", sculpt_jsd(a, c, 4));
  CHECK(isnan(sculpt_jsd(a, z, 4)) && isnan(sculpt_jsd(z, a, 4)), "an empty histogram must give NaN");
  /* P = (1, 0), Q = (1/2, 1/2), M = (3/4, 1/4):
   * JSD = 1/2 log2(1 / (3/4)) + 1/2 (1/2 log2((1/2) / (3/4)) + 1/2 log2((1/2) / (1/4))) = 3/2 - 3/4 log2(3) */
  uint64_t p[] = {4, 0}, q[] = {3, 3};
  double want = 0.5 * log2(1.0 / 0.75) + 0.5 * (0.5 * log2(0.5 / 0.75) + 0.5 * log2(0.5 / 0.25));
  CHECK(near(sculpt_jsd(p, q, 2), want), "two bins: JSD %.17g, expected %.17g", sculpt_jsd(p, q, 2), want);
  CHECK(near(sculpt_jsd(q, p, 2), want), "JSD is not symmetric");
  CHECK(near(want, 1.5 - 0.75 * log2(3.0)), "the closed form: %.17g", want);
}

static void hist_and_bins(void) {
  /* 8 jets: score, label, mass, pt; cut at score >= 0.5 */
  const float score[] = {0.9f, 0.5f, 0.49f, 0.1f, 0.7f, 0.2f, 0.6f, 0.3f};
  const int32_t label[] = {1, 1, 1, 1, 0, 0, 0, 0};
  const float mass[] = {170, 175, 60, 180, 20, 120, 165, 400};
  const float pt[] = {560, 560, 580, 580, 560, 560, 580, 600};
  const double me[] = {50, 100, 150, 200};
  uint64_t pass[5], fail[5]; /* underflow, 3 bins, overflow */
  sculpt_mass_hist(score, label, mass, 8, 0.5, me, 4, pass, fail);
  const uint64_t want_pass[] = {1, 0, 0, 1, 0}, want_fail[] = {0, 0, 1, 0, 1};
  CHECK(memcmp(pass, want_pass, sizeof want_pass) == 0 && memcmp(fail, want_fail, sizeof want_fail) == 0,
        "QCD histograms pass %llu %llu %llu %llu %llu, fail %llu %llu %llu %llu %llu", (unsigned long long)pass[0],
        (unsigned long long)pass[1], (unsigned long long)pass[2], (unsigned long long)pass[3],
        (unsigned long long)pass[4], (unsigned long long)fail[0], (unsigned long long)fail[1],
        (unsigned long long)fail[2], (unsigned long long)fail[3], (unsigned long long)fail[4]);

  const double pe[] = {550, 570, 590};
  sculpt_bin b[2];
  sculpt_binned(score, label, pt, 8, 0.5, pe, 3, b);
  /* [550, 570): top 0.9 0.5 (both pass), QCD 0.7 (pass) 0.2; [570, 590): top 0.49 0.1 (none
   * pass), QCD 0.6 (pass); the jet at 600 is outside */
  CHECK(b[0].lo == 550 && b[0].hi == 570 && b[1].lo == 570 && b[1].hi == 590, "bin ranges");
  CHECK(b[0].n_signal == 2 && b[0].n_signal_pass == 2 && b[0].n_background == 2 && b[0].n_background_pass == 1,
        "bin 0 counts %llu %llu %llu %llu", (unsigned long long)b[0].n_signal, (unsigned long long)b[0].n_signal_pass,
        (unsigned long long)b[0].n_background, (unsigned long long)b[0].n_background_pass);
  CHECK(b[0].eps_s == 1.0 && b[0].eps_s_err == 0.0 && b[0].eps_b == 0.5 && near(b[0].eps_b_err, sqrt(0.25 / 2)),
        "bin 0 efficiencies %g +- %g, %g +- %g", b[0].eps_s, b[0].eps_s_err, b[0].eps_b, b[0].eps_b_err);
  CHECK(b[0].rejection == 2.0 && near(b[0].rejection_err, sqrt(0.25 / 2) / 0.25), "bin 0 rejection %g +- %g",
        b[0].rejection, b[0].rejection_err);
  CHECK(isnan(b[0].eps_b_upper68) && isnan(b[0].rejection_lower68), "bin 0: a limit although a QCD jet passes");
  CHECK(b[1].n_signal == 2 && b[1].n_signal_pass == 0 && b[1].eps_s == 0.0 && b[1].n_background == 1 &&
            b[1].rejection == 1.0,
        "bin 1: eps_s %g, rejection %g", b[1].eps_s, b[1].rejection);

  /* no QCD jet passes: rejection infinite, the 68 % limits from (1 - p)^n = 0.32 */
  const float s2[] = {0.1f, 0.2f, 0.3f, 0.9f};
  const int32_t l2[] = {0, 0, 0, 1};
  const float x2[] = {1, 1, 1, 1};
  const double e2[] = {0, 2};
  sculpt_binned(s2, l2, x2, 4, 0.5, e2, 2, b);
  double up = 1.0 - pow(0.32, 1.0 / 3.0);
  CHECK(b[0].eps_b == 0.0 && isinf(b[0].rejection) && isnan(b[0].rejection_err), "none passes: eps_b %g, rejection %g",
        b[0].eps_b, b[0].rejection);
  CHECK(near(b[0].eps_b_upper68, up) && near(b[0].rejection_lower68, 1.0 / up), "limits %.17g %.17g, expected %.17g",
        b[0].eps_b_upper68, b[0].rejection_lower68, up);
  CHECK(near(pow(1.0 - sculpt_upper68_none_pass(1000), 1000), 0.32), "upper limit for n = 1000");
  CHECK(isnan(sculpt_upper68_none_pass(0)), "upper limit for n = 0");

  /* a bin without QCD jets: its background numbers are NaN, not 0 or inf */
  const double e3[] = {0, 2, 4};
  sculpt_binned(s2, l2, x2, 4, 0.5, e3, 3, b);
  CHECK(b[1].n_signal == 0 && isnan(b[1].eps_s) && isnan(b[1].eps_b) && isnan(b[1].rejection), "an empty bin");
}

int main(void) {
  slots();
  jsd();
  hist_and_bins();
  return check_report("test_sculpt");
}
