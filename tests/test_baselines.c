/* test_baselines.c - the physics baselines of src/baselines.c on hand-made jets with known
 * answers: N-subjettiness ratios (1 for a zero denominator), window and mass-window cuts, and
 * the likelihood baseline's refusals. Exits non-zero on the first failure. */
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

int main(void) {
  cuts();
  likelihood_refusals();
  return check_report("test_baselines");
}
