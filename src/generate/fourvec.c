/* fourvec.c - four-vector arithmetic for the generator (see generate.h). */
#include "jetcnn/generate.h"

#include <math.h>

gen_p4 gen_p4_from_pt_eta_phi_m(double pt, double eta, double phi, double m) {
  gen_p4 p;
  p.px = pt * cos(phi);
  p.py = pt * sin(phi);
  p.pz = pt * sinh(eta);
  p.e = sqrt(p.px * p.px + p.py * p.py + p.pz * p.pz + m * m);
  return p;
}

double gen_p4_eta(gen_p4 p) {
  double pt = gen_p4_pt(p);
  if (pt == 0.0) return 0.0;
  return asinh(p.pz / pt);
}

double gen_p4_phi(gen_p4 p) {
  if (p.px == 0.0 && p.py == 0.0) return 0.0;
  return atan2(p.py, p.px);
}

double gen_delta_phi(double phi1, double phi2) {
  double d = phi1 - phi2;
  if (fabs(d) >= 2.0 * M_PI) d = fmod(d, 2.0 * M_PI); /* fmod returns smaller |d| unchanged */
  if (d > M_PI) d -= 2.0 * M_PI;
  if (d <= -M_PI) d += 2.0 * M_PI;
  return d;
}

double gen_delta_r(gen_p4 a, gen_p4 b) {
  double deta = gen_p4_eta(a) - gen_p4_eta(b), dphi = gen_delta_phi(gen_p4_phi(a), gen_p4_phi(b));
  return sqrt(deta * deta + dphi * dphi);
}

gen_p4 gen_p4_boost(gen_p4 p, double bx, double by, double bz) {
  double b2 = bx * bx + by * by + bz * bz;
  if (b2 <= 0.0) return p;
  double gamma = 1.0 / sqrt(1.0 - b2);
  double bp = bx * p.px + by * p.py + bz * p.pz;
  /* p' = p + [(gamma - 1) (b.p) / b^2 + gamma E] b,  E' = gamma (E + b.p) */
  double k = (gamma - 1.0) * bp / b2 + gamma * p.e;
  return (gen_p4){gamma * (p.e + bp), p.px + k * bx, p.py + k * by, p.pz + k * bz};
}

void gen_perp_basis(const double n[3], double e1[3], double e2[3]) {
  /* cross n with the coordinate axis it is least aligned with */
  double ax = fabs(n[0]), ay = fabs(n[1]), az = fabs(n[2]);
  double a[3] = {0.0, 0.0, 0.0};
  if (ax <= ay && ax <= az) a[0] = 1.0;
  else if (ay <= az) a[1] = 1.0;
  else a[2] = 1.0;
  e1[0] = n[1] * a[2] - n[2] * a[1];
  e1[1] = n[2] * a[0] - n[0] * a[2];
  e1[2] = n[0] * a[1] - n[1] * a[0];
  double norm = sqrt(e1[0] * e1[0] + e1[1] * e1[1] + e1[2] * e1[2]);
  for (int i = 0; i < 3; i++) e1[i] /= norm;
  e2[0] = n[1] * e1[2] - n[2] * e1[1];
  e2[1] = n[2] * e1[0] - n[0] * e1[2];
  e2[2] = n[0] * e1[1] - n[1] * e1[0];
}
