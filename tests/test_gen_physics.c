/* test_gen_physics.c - the generator's physics pieces and the image preprocessing against
 * values worked out by hand: decay invariant masses, N-subjettiness of 1/2/3-prong jets,
 * known pixels (centring, rotation, flip), phi wrap-around, empty/one-constituent jets,
 * normal random numbers, the fast atan2 and eta, and that a jet depends only on (seed, index). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen_check.h"
#include "jetcnn/generate.h"
#include "jetcnn/jetimage.h"
#include "jetcnn/jetobs.h"

/* Row k of c = massless particle (pt, eta, phi). */
static void put(float *c, int k, double pt, double eta, double phi) {
  gen_p4 p = gen_p4_from_pt_eta_phi_m(pt, eta, phi, 0.0);
  c[4 * k] = (float)p.e;
  c[4 * k + 1] = (float)p.px;
  c[4 * k + 2] = (float)p.py;
  c[4 * k + 3] = (float)p.pz;
}

/* The ziggurat's normals: moments and probabilities in the core, a wedge region and the tail
 * (beyond 3.654, drawn separately), against erf, within ~5 standard errors of 10^6 draws. */
static void test_gauss(void) {
  gen_rng rng;
  gen_rng_init(&rng, 11, 4);
  const int n = 1000000;
  double s1 = 0.0, s2 = 0.0, s4 = 0.0;
  long in1 = 0, beyond3 = 0, tail = 0, below = 0;
  for (int i = 0; i < n; i++) {
    double x = gen_rng_gauss(&rng);
    s1 += x, s2 += x * x, s4 += x * x * x * x;
    in1 += fabs(x) < 1.0, beyond3 += fabs(x) > 3.0, tail += x > 3.7, below += x < -0.3;
  }
  CHECK(fabs(s1 / n) < 0.005 && fabs(s2 / n - 1.0) < 0.007 && fabs(s4 / n - 3.0) < 0.05,
        "normal moments: mean %g, variance %g, 4th moment %g", s1 / n, s2 / n, s4 / n);
  double p1 = erf(1.0 / sqrt(2.0)), p3 = erfc(3.0 / sqrt(2.0)), pt = 0.5 * erfc(3.7 / sqrt(2.0)),
         pb = 0.5 * erfc(0.3 / sqrt(2.0));
  CHECK(fabs((double)in1 / n - p1) < 5.0 * sqrt(p1 * (1 - p1) / n), "P(|x| < 1) = %g, expected %g", (double)in1 / n, p1);
  CHECK(fabs((double)beyond3 / n - p3) < 5.0 * sqrt(p3 / n), "P(|x| > 3) = %g, expected %g", (double)beyond3 / n, p3);
  CHECK(fabs((double)tail / n - pt) < 5.0 * sqrt(pt / n), "P(x > 3.7) = %g, expected %g", (double)tail / n, pt);
  CHECK(fabs((double)below / n - pb) < 5.0 * sqrt(pb * (1 - pb) / n), "P(x < -0.3) = %g, expected %g",
        (double)below / n, pb);
}

/* The fast angles against libm: atan2 in every octant and at the axes, eta of both signs. */
static void test_angles(void) {
  gen_rng rng;
  gen_rng_init(&rng, 5, 9);
  double worst_phi = 0.0, worst_eta = 0.0;
  for (int i = 0; i < 200000; i++) {
    double a = 2.0 * M_PI * gen_rng_uniform(&rng), r = exp(12.0 * gen_rng_uniform(&rng) - 6.0);
    double x = r * cos(a), y = r * sin(a), z = r * sinh(6.0 * gen_rng_uniform(&rng) - 3.0);
    if (i % 97 == 0) x = 0.0;
    if (i % 89 == 0) y = i % 2 ? 0.0 : -0.0;
    if (i % 83 == 0) y = x;
    worst_phi = fmax(worst_phi, fabs(gen_atan2(y, x) - atan2(y, x)));
    gen_p4 p = {0.0, x, y, z};
    double pt = hypot(x, y);
    if (pt > 0.0) worst_eta = fmax(worst_eta, fabs(gen_p4_eta(p) - asinh(z / pt)) / fmax(1.0, fabs(asinh(z / pt))));
  }
  CHECK(worst_phi < 4e-15, "gen_atan2 differs from atan2 by up to %g", worst_phi);
  CHECK(worst_eta < 4e-15, "gen_p4_eta differs from asinh(pz / pT) by up to %g", worst_eta);
  CHECK(gen_atan2(0.0, -1.0) == M_PI && gen_atan2(-0.0, -1.0) == -M_PI && gen_atan2(1.0, 0.0) == M_PI_2 &&
            gen_atan2(-1.0, -0.0) == -M_PI_2 && gen_atan2(0.0, 0.0) == 0.0,
        "gen_atan2 on the axes");
}

static void test_decays(void) {
  gen_rng rng;
  gen_rng_init(&rng, 3, 0);
  for (int i = 0; i < 1000; i++) {
    double m = gen_rng_breit_wigner(&rng, GEN_TOP_MASS, GEN_TOP_WIDTH, 160.0, 186.0);
    CHECK(m >= 160.0 && m <= 186.0, "top mass %g outside its window", m);
    gen_p4 top = gen_p4_from_pt_eta_phi_m(600.0, 1.5 * (gen_rng_uniform(&rng) - 0.5), 3.0, m), q[3], w;
    gen_top_decay(&rng, top, q, &w);
    gen_p4 sum = gen_p4_sum(gen_p4_sum(q[0], q[1]), q[2]);
    CHECK(fabs(gen_p4_mass(sum) - m) < 1e-6 * m, "m(bqq) = %g, top %g", gen_p4_mass(sum), m);
    CHECK(fabs(sum.px - top.px) + fabs(sum.py - top.py) + fabs(sum.pz - top.pz) < 1e-6 * top.e, "momentum lost");
    CHECK(fabs(gen_p4_mass(gen_p4_sum(q[1], q[2])) - gen_p4_mass(w)) < 1e-6 * 80.0, "m(qq) != m(W)");
    CHECK(fabs(gen_p4_mass(w) - GEN_W_MASS) < 15.0 * GEN_W_WIDTH + 1e-9, "W mass %g", gen_p4_mass(w));
    CHECK(fabs(gen_p4_mass(q[0]) - GEN_B_MASS) < 1e-4, "b mass %g", gen_p4_mass(q[0]));
  }
  gen_p4 closed = gen_p4_from_pt_eta_phi_m(100.0, 0.0, 0.0, 10.0), a, b;
  CHECK(gen_two_body_decay(&rng, closed, 6.0, 6.0, &a, &b) == -1, "decay below threshold accepted");
  CHECK(fabs(gen_delta_phi(M_PI - 0.1, -M_PI + 0.1) + 0.2) < 1e-12, "delta phi across pi: %g",
        gen_delta_phi(M_PI - 0.1, -M_PI + 0.1));
}

static void test_shower(void) {
  gen_rng rng;
  gen_rng_init(&rng, 5, 1);
  gen_p4 out[256];
  double n_q = 0, n_g = 0;
  for (int i = 0; i < 200; i++) {
    gen_p4 q = gen_p4_from_pt_eta_phi_m(500.0, 0.0, 0.0, 0.0);
    int n = gen_shower(&rng, q, 0.0, GEN_CF, 0.8, out, 256);
    gen_p4 sum = {0, 0, 0, 0};
    for (int k = 0; k < n; k++) sum = gen_p4_sum(sum, out[k]);
    CHECK(fabs(sum.px - q.px) + fabs(sum.py) + fabs(sum.pz) < 1e-6 * q.e, "shower lost three-momentum");
    n_q += n;
    n_g += gen_shower(&rng, q, 0.0, GEN_CA, 0.8, out, 256);
  }
  CHECK(n_g > 1.5 * n_q, "gluons should radiate more than quarks (C_A/C_F = 9/4): %g vs %g", n_g, n_q);
  CHECK(gen_shower(&rng, gen_p4_from_pt_eta_phi_m(500, 0, 0, 0), 0.0, GEN_CA, 0.8, out, 3) <= 3, "overflow");
}

static void test_nsubjettiness(void) {
  float c[4 * 12];
  double tau[3];
  memset(c, 0, sizeof c);
  /* two equal prongs at phi = +-d/2: the one axis is the midpoint, tau1 = d / (2 R0) */
  put(c, 0, 200.0, 0.0, -0.2);
  put(c, 1, 200.0, 0.0, 0.2);
  jetobs_nsubjettiness(c, 12, 0.8, tau);
  CHECK(fabs(tau[0] - 0.4 / 1.6) < 1e-3, "2 particles: tau1 = %g, expected %g", tau[0], 0.25);
  CHECK(tau[1] == 0.0 && tau[2] == 0.0, "2 particles: tau2 %g tau3 %g must be 0", tau[1], tau[2]);
  /* 1, 2 and 3 prongs of four collinear-ish particles each */
  const double prong_phi[3] = {0.0, 0.45, -0.25}, prong_eta[3] = {0.0, 0.1, 0.4};
  for (int prongs = 1; prongs <= 3; prongs++) {
    memset(c, 0, sizeof c);
    for (int p = 0; p < prongs; p++)
      for (int k = 0; k < 4; k++)
        put(c, 4 * p + k, 50.0 + 10.0 * k, prong_eta[p] + 0.004 * k, prong_phi[p] - 0.003 * k);
    jetobs_nsubjettiness(c, 12, 0.8, tau);
    CHECK(tau[prongs - 1] < 0.01, "%d prongs: tau%d = %g should be ~0", prongs, prongs, tau[prongs - 1]);
    if (prongs > 1)
      CHECK(tau[prongs - 2] > 0.1, "%d prongs: tau%d = %g should be large", prongs, prongs - 1, tau[prongs - 2]);
  }
}

/* The pair (A: pT 300, B: pT 100) 0.48 apart along direction angle `dir` from (eta0, phi0):
 * after centring A sits 0.12 from the centroid, B 0.36; rotated vertical and flipped so the
 * harder A is above: with 41 pixels of 0.04, A at (17, 20), B at (29, 20). */
static void check_pair(double eta0, double phi0, double dir, const char *what) {
  float c[4 * 5], image[41 * 41];
  memset(c, 0, sizeof c);
  put(c, 0, 300.0, eta0, phi0);
  put(c, 3, 100.0, eta0 + 0.48 * cos(dir), phi0 + 0.48 * sin(dir)); /* rows 1, 2, 4: padding */
  jetimage_params p = {41, 1.64, JETIMAGE_PT, 1};
  jetimage_make(&p, c, NULL, 5, image);
  CHECK(fabs(image[17 * 41 + 20] - 0.75f) < 1e-6, "%s: pixel (17,20) = %g, expected 0.75", what, image[17 * 41 + 20]);
  CHECK(fabs(image[29 * 41 + 20] - 0.25f) < 1e-6, "%s: pixel (29,20) = %g, expected 0.25", what, image[29 * 41 + 20]);
  double total = 0;
  for (int i = 0; i < 41 * 41; i++) total += image[i];
  CHECK(fabs(total - 1.0) < 1e-6, "%s: image sum %g", what, total);
}

static void test_images(void) {
  check_pair(0.0, 0.0, 0.5 * M_PI, "along phi");
  check_pair(0.0, 0.0, 0.0, "along eta (rotated)");
  check_pair(0.3, 1.0, 2.2, "oblique (rotated)");
  check_pair(-1.0, M_PI - 0.2, 0.5 * M_PI, "across phi = pi (wrap-around)");
  check_pair(0.5, -M_PI + 0.1, -0.5 * M_PI, "across phi = -pi (wrap-around)");

  float c[4 * 3], image[40 * 40 * 3];
  jetimage_params p = jetimage_defaults();
  memset(c, 0, sizeof c);
  jetimage_make(&p, c, NULL, 3, image);
  int zeros = 1;
  for (int i = 0; i < 40 * 40; i++) zeros &= image[i] == 0.0f;
  CHECK(zeros, "empty jet must give an empty image");
  put(c, 1, 250.0, 1.2, -2.0);
  jetimage_make(&p, c, NULL, 3, image);
  double total = 0;
  for (int i = 0; i < 40 * 40; i++) total += image[i];
  CHECK(fabs(total - 1.0) < 1e-6, "one-constituent jet: sum %g", total);
  /* colour: charged pT, neutral pT, charged count, each channel normalised */
  uint8_t charged[3] = {0, 1, 0};
  put(c, 0, 100.0, 1.2, -1.9);
  p.channels = JETIMAGE_COLOR;
  p.normalize = 0;
  jetimage_make(&p, c, charged, 3, image);
  double ch[3] = {0, 0, 0};
  for (int i = 0; i < 40 * 40; i++)
    for (int k = 0; k < 3; k++) ch[k] += image[3 * i + k];
  CHECK(fabs(ch[0] - 250.0) < 1e-3 && fabs(ch[1] - 100.0) < 1e-3 && ch[2] == 1.0,
        "colour channels %g %g %g, expected 250 100 1", ch[0], ch[1], ch[2]);
}

static void test_generator(void) {
  gen_config cfg = {11, 0.5};
  float c1[200 * 4], c2[200 * 4];
  uint8_t q1[200], q2[200];
  int l1, l2, tops = 0;
  for (int i = 0; i < 200; i++) {
    int n = gen_jet(&cfg, (uint64_t)i, 200, c1, q1, &l1);
    gen_jet(&cfg, (uint64_t)i, 200, c2, q2, &l2);
    CHECK(memcmp(c1, c2, sizeof c1) == 0 && l1 == l2 && memcmp(q1, q2, sizeof q1) == 0, "jet %d not reproducible", i);
    jetobs o;
    jetobs_compute(c1, 200, &o);
    CHECK(o.n == n && n > 5, "jet %d: %d constituents, observables count %d", i, n, o.n);
    CHECK(o.pt >= 549.9 && o.pt <= 650.1 && fabs(o.eta) < 2.0, "jet %d: pT %g eta %g outside the selection", i, o.pt,
          o.eta);
    for (int k = 1; k < n; k++) {
      double pa = hypot(c1[4 * k - 3], c1[4 * k - 2]), pb = hypot(c1[4 * k + 1], c1[4 * k + 2]);
      CHECK(pa >= pb - 1e-3, "jet %d: constituents not pT-ordered at %d", i, k);
    }
    tops += l1;
  }
  CHECK(tops > 70 && tops < 130, "%d of 200 jets are tops at signal fraction 0.5", tops);
  cfg.signal_fraction = 0.0;
  gen_jet(&cfg, 5, 200, c1, q1, &l1);
  CHECK(l1 == 0, "signal fraction 0 gave a top");
}

int main(void) {
  test_gauss();
  test_angles();
  test_decays();
  test_shower();
  test_nsubjettiness();
  test_images();
  test_generator();
  return check_report("test_gen_physics");
}
