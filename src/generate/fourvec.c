/* fourvec.c - four-vector arithmetic for the generator (see generate.h). */
#include "jetcnn/generate.h"

#include <float.h>
#include <math.h>

gen_p4 gen_p4_from_pt_eta_phi_m(double pt, double eta, double phi, double m) {
  gen_p4 p;
  p.px = pt * cos(phi);
  p.py = pt * sin(phi);
  p.pz = pt * sinh(eta);
  p.e = sqrt(p.px * p.px + p.py * p.py + p.pz * p.pz + m * m);
  return p;
}

/* atan(i / 32), i = 0..32, correctly rounded (mpmath) */
const double gen_atan_table[33] = {
    0x0.0p+0,              0x1.ffd55bba97625p-6, 0x1.ff55bb72cfdeap-5, 0x1.7ee182602f10fp-4, 0x1.fd5ba9aac2f6ep-4,
    0x1.3d6eee8c6626cp-3, 0x1.7b97b4bce5b02p-3, 0x1.b90d7529260a2p-3, 0x1.f5b75f92c80ddp-3, 0x1.18bf5a30bf178p-2,
    0x1.362773707ebccp-2, 0x1.530ad9951cd4ap-2, 0x1.6f61941e4def1p-2, 0x1.8b24d394a1b25p-2, 0x1.a64eec3cc23fdp-2,
    0x1.c0db4c94ec9f0p-2, 0x1.dac670561bb4fp-2, 0x1.f40dd0b541418p-2, 0x1.0657e94db30d0p-1, 0x1.1255d9bfbd2a9p-1,
    0x1.1e00babdefeb4p-1, 0x1.2958e59308e31p-1, 0x1.345f01cce37bbp-1, 0x1.3f13fb89e96f4p-1, 0x1.4978fa3269ee1p-1,
    0x1.538f57b89061fp-1, 0x1.5d58987169b18p-1, 0x1.66d663923e087p-1, 0x1.700a7c5784634p-1, 0x1.78f6bbd5d315ep-1,
    0x1.819d0b7158a4dp-1, 0x1.89ff5ff57f1f8p-1, 0x1.921fb54442d18p-1};

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
