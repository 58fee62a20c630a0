/* jetobs.c - jet kinematics from constituent rows (see jetobs.h). */
#include "jetcnn/jetobs.h"

#include <math.h>

#include "jetcnn/generate.h"

void jetobs_compute(const float *c, int m, jetobs *out) {
  gen_p4 sum = {0.0, 0.0, 0.0, 0.0};
  int n = 0;
  for (int r = 0; r < m; r++) {
    const float *row = c + 4 * r;
    if (jetobs_is_padding(row)) continue;
    sum = gen_p4_sum(sum, (gen_p4){row[0], row[1], row[2], row[3]});
    n++;
  }
  out->n = n;
  out->pt = gen_p4_pt(sum);
  out->eta = gen_p4_eta(sum);
  out->phi = gen_p4_phi(sum);
  out->mass = gen_p4_mass(sum);
  jetobs_nsubjettiness(c, m, GEN_JET_R, out->tau);
}
