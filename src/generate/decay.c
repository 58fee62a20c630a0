/* decay.c - two-body decays and the top decay chain t -> b W, W -> q q' (see generate.h). */
#include "jetcnn/generate.h"

#include <math.h>

int gen_two_body_decay(gen_rng *rng, gen_p4 parent, double m1, double m2, gen_p4 *d1, gen_p4 *d2) {
  double m = gen_p4_mass(parent);
  if (m < m1 + m2 || parent.e <= 0.0) return -1;
  /* rest-frame momentum: p* = sqrt((M^2 - (m1+m2)^2) (M^2 - (m1-m2)^2)) / 2M */
  double p = sqrt((m * m - (m1 + m2) * (m1 + m2)) * (m * m - (m1 - m2) * (m1 - m2))) / (2.0 * m);
  double cos_t = 2.0 * gen_rng_uniform(rng) - 1.0, sin_t = sqrt(1.0 - cos_t * cos_t);
  double phi = 2.0 * M_PI * gen_rng_uniform(rng);
  double nx = sin_t * cos(phi), ny = sin_t * sin(phi), nz = cos_t;
  gen_p4 a = {sqrt(p * p + m1 * m1), p * nx, p * ny, p * nz};
  gen_p4 b = {sqrt(p * p + m2 * m2), -p * nx, -p * ny, -p * nz};
  double bx = parent.px / parent.e, by = parent.py / parent.e, bz = parent.pz / parent.e;
  *d1 = gen_p4_boost(a, bx, by, bz);
  *d2 = gen_p4_boost(b, bx, by, bz);
  return 0;
}

void gen_top_decay(gen_rng *rng, gen_p4 top, gen_p4 quarks[3], gen_p4 *w) {
  double m_top = gen_p4_mass(top);
  /* W mass within 15 widths of the pole and light enough for t -> b W to stay open */
  double hi = fmin(GEN_W_MASS + 15.0 * GEN_W_WIDTH, m_top - GEN_B_MASS - 1e-3);
  double m_w = gen_rng_breit_wigner(rng, GEN_W_MASS, GEN_W_WIDTH, GEN_W_MASS - 15.0 * GEN_W_WIDTH, hi);
  gen_p4 b = top, wp = top, q1 = top, q2 = top;
  /* both decays are open by construction of the mass windows (m_top >= 150 GeV) */
  gen_two_body_decay(rng, top, GEN_B_MASS, m_w, &b, &wp);
  gen_two_body_decay(rng, wp, 0.0, 0.0, &q1, &q2);
  quarks[0] = b;
  quarks[1] = q1;
  quarks[2] = q2;
  *w = wp;
}
