/* hadronize.c - partons to hadrons (see generate.h).
 *
 * Independent fragmentation, the simplest model with the right qualitative features: each
 * parton splits off hadrons one after another, each taking a uniform fraction z of the
 * energy still left (so the multiplicity grows like ln E), with a Gaussian transverse
 * momentum of sigma = 0.3 GeV per component around the parton direction. Hadrons are pions;
 * two in three are charged. The last few hundred MeV of each parton are lost (confinement
 * leaves soft debris below the detector threshold anyway).
 */
#include "jetcnn/generate.h"

#include <math.h>

#define PION_MASS 0.13957
#define KICK_SIGMA 0.30      /* GeV, per transverse component */
#define LAST_HADRON_E 0.8    /* GeV: below this a parton's remainder becomes one last hadron */
#define CHARGED_FRACTION (2.0 / 3.0)

/* One hadron of energy e around direction n (basis e1, e2). */
static gen_particle make_hadron(gen_rng *rng, double e, const double n[3], const double e1[3],
                                const double e2[3]) {
  double kx = KICK_SIGMA * gen_rng_gauss(rng), ky = KICK_SIGMA * gen_rng_gauss(rng);
  double p2 = e * e - PION_MASS * PION_MASS;
  if (p2 < 0.0) p2 = 0.0;
  double kt2 = kx * kx + ky * ky;
  if (kt2 > 0.5 * p2) { /* a kick larger than the momentum: shrink it, keep the hadron forward */
    double s = sqrt(0.5 * p2 / kt2);
    kx *= s;
    ky *= s;
    kt2 = kx * kx + ky * ky;
  }
  double pl = sqrt(p2 - kt2);
  gen_particle h;
  h.p.px = pl * n[0] + kx * e1[0] + ky * e2[0];
  h.p.py = pl * n[1] + kx * e1[1] + ky * e2[1];
  h.p.pz = pl * n[2] + kx * e1[2] + ky * e2[2];
  h.p.e = p2 > 0.0 ? e : PION_MASS; /* sqrt(p2 + m^2) */
  h.charged = gen_rng_uniform(rng) < CHARGED_FRACTION;
  h.has_angles = 0;
  h.eta = h.phi = 0.0;
  return h;
}

int gen_hadronize(gen_rng *rng, const gen_p4 *partons, int n_partons, gen_particle *out, int max_out) {
  int n_out = 0;
  for (int i = 0; i < n_partons && n_out < max_out; i++) {
    double e = gen_p4_p(partons[i]);
    if (e <= 0.0) continue;
    double n[3] = {partons[i].px / e, partons[i].py / e, partons[i].pz / e}, e1[3], e2[3];
    gen_perp_basis(n, e1, e2);
    double left = e;
    while (left > 2.0 * PION_MASS && n_out < max_out) {
      double eh = left < LAST_HADRON_E ? left : (1.0 - sqrt(gen_rng_uniform(rng))) * left;
      if (eh < 2.0 * PION_MASS) eh = fmin(left, 2.0 * PION_MASS);
      out[n_out++] = make_hadron(rng, eh, n, e1, e2);
      left -= eh;
    }
  }
  return n_out;
}
