/* shower.c - angular-ordered soft-collinear parton shower (see generate.h).
 *
 * A parton of energy E emits gluons with density
 *     dP = alpha_s(kT) C / pi  dtheta/theta  dz/z  (1 + (1 - z)^2) / 2,   kT = z E theta,
 * in decreasing opening angle theta, down to kT = 1 GeV. The last factor is the q -> q g
 * splitting function over its soft limit (<= 1): it only thins out hard emissions.
 * Emissions are found with the Sudakov veto algorithm: first from the overestimate with a
 * frozen alpha_s_max = alpha_s(kT_cut) and the full z range, then accepted with the ratio.
 * With L = ln(E theta / kT_cut) the overestimate's no-emission probability from L0 down to L
 * is exp(-a (L0^2 - L^2) / 2), a = alpha_s_max C / pi, which inverts in closed form.
 * Each emitted gluon showers on (colour C_A) from its own emission angle: angular ordering.
 * The emitter recoils (p -> p - k) and keeps its mass. A massive emitter (b, top) does not
 * radiate inside its dead cone theta < m / E, the leading effect of the quark mass.
 */
#include "jetcnn/generate.h"

#include <math.h>

#define LAMBDA_QCD 0.25 /* GeV; alpha_s(91.2 GeV) = 0.139 at one loop, 5 flavours (a LL shower needs a CMW-like larger Lambda) */
#define N_FLAVOURS 5
#define STACK_MAX 256

#define B0 ((33.0 - 2.0 * N_FLAVOURS) / (12.0 * M_PI))

double gen_alpha_s(double kt) {
  if (kt < GEN_SHOWER_KT_CUT) kt = GEN_SHOWER_KT_CUT;
  return 1.0 / (B0 * log(kt * kt / (LAMBDA_QCD * LAMBDA_QCD)));
}

/* Next emission below *theta for a parton of energy e. On success sets *theta and *z and
 * returns 1; returns 0 when the parton reaches the cut-off without emitting. */
static int next_emission(gen_rng *rng, double e, double colour, double theta_min, double *theta, double *z) {
  /* ln(kT / Lambda) and alpha_s at the cut-off (constants: the compiler folds them) */
  const double log_kt_cut_over_lambda = log(GEN_SHOWER_KT_CUT / LAMBDA_QCD);
  const double as_max = 1.0 / (2.0 * B0 * log_kt_cut_over_lambda);
  double a = as_max * colour / M_PI;
  double l = log(e * *theta / GEN_SHOWER_KT_CUT);
  /* the dead cone theta < theta_min is L < l_min: angles only decrease, so it ends the search */
  double l_min = theta_min > 0.0 ? log(e * theta_min / GEN_SHOWER_KT_CUT) : -1.0;
  while (l > 0.0) {
    double l2 = l * l + (2.0 / a) * log(gen_rng_uniform(rng));
    if (l2 <= 0.0) return 0;
    l = sqrt(l2);
    if (l < l_min) return 0;
    double u = gen_rng_uniform(rng), zz = exp(-l * u); /* ln z uniform in [-L, 0] */
    /* kT = z E theta = kT_cut e^{L (1 - u)}: alpha_s(kT) without a logarithm */
    double as = 1.0 / (2.0 * B0 * (log_kt_cut_over_lambda + l * (1.0 - u)));
    double accept = as / as_max * 0.5 * (1.0 + (1.0 - zz) * (1.0 - zz));
    if (gen_rng_uniform(rng) < accept) {
      *theta = GEN_SHOWER_KT_CUT * exp(l) / e;
      *z = zz;
      return 1;
    }
  }
  return 0;
}

typedef struct {
  gen_p4 p;
  double colour, theta;
} branch;

int gen_shower(gen_rng *rng, gen_p4 parton, double mass, double colour, double theta_max, gen_p4 *out,
               int max_out) {
  branch stack[STACK_MAX];
  int depth = 0, n_out = 0;
  if (max_out <= 0) return 0;
  stack[depth++] = (branch){parton, colour, theta_max};
  while (depth > 0) {
    branch b = stack[--depth];
    double z = 0.0, m = depth == 0 && n_out == 0 ? mass : 0.0; /* only the first parton is massive */
    /* every branch on the stack ends as at least one output: keep room for all of them */
    while (n_out + depth + 2 <= max_out && depth < STACK_MAX) {
      double p = gen_p4_p(b.p), e = sqrt(p * p + m * m);
      if (p <= 0.0 || !next_emission(rng, e, b.colour, m / e, &b.theta, &z)) break;
      double n[3] = {b.p.px / p, b.p.py / p, b.p.pz / p}, e1[3], e2[3];
      gen_perp_basis(n, e1, e2);
      double az = 2.0 * M_PI * gen_rng_uniform(rng);
      double ct = cos(b.theta), st = sin(b.theta), ca = cos(az), sa = sin(az), eg = z * e;
      gen_p4 k;
      k.px = eg * (ct * n[0] + st * (ca * e1[0] + sa * e2[0]));
      k.py = eg * (ct * n[1] + st * (ca * e1[1] + sa * e2[1]));
      k.pz = eg * (ct * n[2] + st * (ca * e1[2] + sa * e2[2]));
      k.e = eg;
      gen_p4 rest = gen_p4_diff(b.p, k);
      double pr = gen_p4_p(rest);
      rest.e = sqrt(pr * pr + m * m);
      b.p = rest;
      stack[depth++] = (branch){k, GEN_CA, b.theta};
    }
    out[n_out++] = b.p;
  }
  return n_out;
}
