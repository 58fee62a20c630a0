/* detector.c - soft pile-up / underlying event and the detector response (see generate.h). */
#include "jetcnn/generate.h"

#include <math.h>

#define PION_MASS 0.13957
#define PILEUP_MEAN_COUNT 25.0 /* particles over the disc on average: ~6 GeV of pT per unit area */
#define PILEUP_MEAN_PT 0.8     /* GeV, exponential spectrum */
#define PILEUP_RADIUS 1.0
#define MIN_CONSTITUENT_PT 0.5 /* GeV */
/* charged: sigma(pT)/pT = 1% (+) 0.02% * pT; neutral (calorimeter): 50%/sqrt(E) (+) 5% */
#define TRACK_CONST 0.01
#define TRACK_SLOPE 2e-4
#define CALO_STOCHASTIC 0.50
#define CALO_CONST 0.05

int gen_pileup(gen_rng *rng, double eta, double phi, gen_particle *out, int max_out) {
  /* the pile-up level varies from event to event (luminosity falls during a fill): the mean
   * count is itself flat between 0 and twice its average */
  int n = gen_rng_poisson(rng, 2.0 * PILEUP_MEAN_COUNT * gen_rng_uniform(rng));
  if (n > max_out) n = max_out;
  for (int i = 0; i < n; i++) {
    /* uniform in the disc by rejection from the square: no square root, sine or cosine */
    double x, y;
    do {
      x = 2.0 * gen_rng_uniform(rng) - 1.0;
      y = 2.0 * gen_rng_uniform(rng) - 1.0;
    } while (x * x + y * y >= 1.0);
    double pt = -PILEUP_MEAN_PT * log(gen_rng_uniform(rng));
    out[i].eta = eta + PILEUP_RADIUS * x;
    out[i].phi = phi + PILEUP_RADIUS * y;
    out[i].has_angles = 1; /* the detector scales momenta: the direction stays */
    out[i].p = gen_p4_from_pt_eta_phi_m(pt, out[i].eta, out[i].phi, PION_MASS);
    out[i].charged = gen_rng_uniform(rng) < 2.0 / 3.0;
  }
  return n;
}

int gen_detector(gen_rng *rng, gen_particle *ps, int n) {
  int kept = 0;
  for (int i = 0; i < n; i++) {
    gen_particle q = ps[i];
    /* squares throughout: two square roots per particle, not five */
    double pt2 = q.p.px * q.p.px + q.p.py * q.p.py, p2 = pt2 + q.p.pz * q.p.pz;
    double track2 = TRACK_CONST * TRACK_CONST + TRACK_SLOPE * TRACK_SLOPE * pt2;
    double calo2 = CALO_STOCHASTIC * CALO_STOCHASTIC / fmax(q.p.e, 1e-3) + CALO_CONST * CALO_CONST;
    double scale = 1.0 + sqrt(q.charged ? track2 : calo2) * gen_rng_gauss(rng);
    double m2 = fmax(q.p.e * q.p.e - p2, 0.0);
    q.p.px *= scale;
    q.p.py *= scale;
    q.p.pz *= scale;
    q.p.e = sqrt(scale * scale * p2 + m2);
    /* written either way, kept or not: which particles survive is unpredictable */
    ps[kept] = q;
    kept += scale > 0.0 && p2 > 0.0 && scale * scale * pt2 >= MIN_CONSTITUENT_PT * MIN_CONSTITUENT_PT;
  }
  return kept;
}
