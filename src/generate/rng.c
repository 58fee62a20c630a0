/* rng.c - counter-based random streams for the generator (see generate.h).
 *
 * SplitMix64 (Steele, Lea & Flood 2014): the state advances by a fixed odd constant and each
 * output is a strong 64-bit mix of the state. Seeding a stream with mix(seed, stream) makes
 * every jet's numbers a pure function of (seed, jet index).
 */
#include "jetcnn/generate.h"

#include <math.h>

#define GOLDEN_GAMMA 0x9e3779b97f4a7c15ULL

void gen_rng_init(gen_rng *rng, uint64_t seed, uint64_t stream) {
  gen_zig_init();
  rng->state = gen_rng_mix64(gen_rng_mix64(seed + GOLDEN_GAMMA) ^ (stream * 0xd1342543de82ef95ULL + 1));
}

int gen_rng_poisson(gen_rng *rng, double mean) {
  if (mean <= 0.0) return 0;
  /* inversion: walk the cumulative distribution P(k) = P(k-1) * mean / k */
  double u = gen_rng_uniform(rng), p = exp(-mean), cdf = p;
  int k = 0;
  while (u > cdf && k < 1000) {
    k++;
    p *= mean / k;
    cdf += p;
  }
  return k;
}

double gen_rng_breit_wigner(gen_rng *rng, double m0, double gamma, double lo, double hi) {
  /* Cauchy by inversion of its CDF, restricted to [lo, hi] by inverting only that range */
  double a = atan(2.0 * (lo - m0) / gamma), b = atan(2.0 * (hi - m0) / gamma);
  return m0 + 0.5 * gamma * tan(a + (b - a) * gen_rng_uniform(rng));
}
