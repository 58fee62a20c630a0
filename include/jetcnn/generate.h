/* generate.h - a toy but physical generator of boosted top-quark and QCD jets.
 *
 * One jet is a pure function of (seed, jet index): every jet draws its random numbers from
 * its own counter-based stream, so a file is the same whatever the number of ranks or
 * threads. The model (docs/physics.md): top -> b W -> b q q' with Breit-Wigner masses, or one
 * light quark / gluon for QCD; an angular-ordered soft-collinear parton shower with running
 * alpha_s; hadronisation with transverse kicks; soft pile-up; detector smearing; a cone
 * R = 0.8 around the jet axis; jet pT 550-650 GeV and |eta| < 2 after reconstruction.
 *
 * Units: GeV, radians. Momenta are (E, px, py, pz).
 */
#ifndef JETCNN_GENERATE_H
#define JETCNN_GENERATE_H

#include <float.h>
#include <math.h>
#include <stdint.h>

/* ---- random numbers: one SplitMix64 stream per (seed, stream id) ---- */
typedef struct {
  uint64_t state;
} gen_rng;

/* Start the stream keyed by (seed, stream); streams with different keys are independent. */
void gen_rng_init(gen_rng *rng, uint64_t seed, uint64_t stream);
/* SplitMix64's output mix of a state. */
static inline uint64_t gen_rng_mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
/* Next 64 random bits (inline: the generator draws a few thousand per jet). */
static inline uint64_t gen_rng_u64(gen_rng *rng) { return gen_rng_mix64(rng->state += 0x9e3779b97f4a7c15ULL); }
/* Uniform in the open interval (0, 1): 53 random bits, shifted by half a step so that 0 and
 * 1 never come out. */
static inline double gen_rng_uniform(gen_rng *rng) {
  return ((double)(gen_rng_u64(rng) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}
/* Standard normal: a 256-layer ziggurat (ziggurat.c). The common case (99 %: the point lies
 * in the part of its layer under the curve) is inline; gen_rng_init builds the tables. */
#define GEN_ZIG_LAYERS 256
extern double gen_zig_x[GEN_ZIG_LAYERS + 1];
void gen_zig_init(void);
double gen_rng_gauss_rest(gen_rng *rng, uint64_t bits);
static inline double gen_rng_gauss(gen_rng *rng) {
  uint64_t bits = gen_rng_u64(rng);
  int i = (int)(bits & (GEN_ZIG_LAYERS - 1));
  double x = (double)(bits >> 11) * (1.0 / 9007199254740992.0) * gen_zig_x[i];
  if (x < gen_zig_x[i + 1]) return (bits & GEN_ZIG_LAYERS) ? -x : x;
  return gen_rng_gauss_rest(rng, bits);
}
/* Poisson with the given mean (inversion; meant for means below ~50). */
int gen_rng_poisson(gen_rng *rng, double mean);
/* Non-relativistic Breit-Wigner (Cauchy) mass around m0 with full width gamma, kept in [lo, hi]. */
double gen_rng_breit_wigner(gen_rng *rng, double m0, double gamma, double lo, double hi);

/* ---- four-vectors ---- */
typedef struct {
  double e, px, py, pz;
} gen_p4;

/* The four-vector of a particle of mass m with transverse momentum pt at (eta, phi). */
gen_p4 gen_p4_from_pt_eta_phi_m(double pt, double eta, double phi, double m);
/* The small four-vector helpers are inline: called for every particle of every attempt. */
static inline gen_p4 gen_p4_sum(gen_p4 a, gen_p4 b) { return (gen_p4){a.e + b.e, a.px + b.px, a.py + b.py, a.pz + b.pz}; }
static inline gen_p4 gen_p4_diff(gen_p4 a, gen_p4 b) { return (gen_p4){a.e - b.e, a.px - b.px, a.py - b.py, a.pz - b.pz}; }
static inline double gen_p4_pt(gen_p4 p) { return sqrt(p.px * p.px + p.py * p.py); }
/* Pseudorapidity from pT and pz; 0 for a particle along the beam with no transverse
 * momentum. (The angle helpers are inline too: every particle needs them.) */
static inline double gen_eta_pt(double pt, double pz) {
  if (pt == 0.0) return 0.0;
  /* asinh(pz / pT) = ln((|p| + |pz|) / pT) with the sign of pz: one log (a third of libm's
   * asinh), and no cancellation for either sign */
  double eta = log((sqrt(pt * pt + pz * pz) + fabs(pz)) / pt);
  return pz < 0.0 ? -eta : eta;
}
/* Pseudorapidity of p. */
static inline double gen_p4_eta(gen_p4 p) { return gen_eta_pt(gen_p4_pt(p), p.pz); }
/* atan2(y, x) to a few ulp in ~2/3 of libm's time (a table of 33 arctangents and a short
 * series); the same value on every machine and rank. */
extern const double gen_atan_table[33]; /* atan(i / 32) */
static inline double gen_atan2(double y, double x) {
  /* t = min / max in [0, 1]; atan t = atan c + atan u with c the nearest i / 32 and
   * u = (t - c) / (1 + t c), |u| <= 1/64, where five terms of the series are exact to
   * u^11 / 11 < 1e-21; then the octant, by selects rather than branches (the quadrant of
   * a particle is random). */
  double ax = fabs(x), ay = fabs(y);
  double lo = ax < ay ? ax : ay, hi = ax < ay ? ay : ax;
  if (!(hi > 0.0 && hi <= DBL_MAX && lo == lo)) return atan2(y, x); /* 0, inf, NaN: libm's conventions */
  double t = lo / hi;
  int i = (int)(t * 32.0 + 0.5);
  double c = i * (1.0 / 32.0), u = (t - c) / (1.0 + t * c), u2 = u * u;
  double r = gen_atan_table[i] + u * (1.0 - u2 * (1.0 / 3.0 - u2 * (1.0 / 5.0 - u2 * (1.0 / 7.0 - u2 * (1.0 / 9.0)))));
  r = ay > ax ? M_PI_2 - r : r;
  r = x < 0.0 ? M_PI - r : r;
  return copysign(r, y);
}
/* Azimuth in (-pi, pi]; 0 for a particle along the beam. */
static inline double gen_p4_phi(gen_p4 p) {
  if (p.px == 0.0 && p.py == 0.0) return 0.0;
  return gen_atan2(p.py, p.px);
}
/* Invariant mass; a slightly negative m^2 from rounding gives 0. */
static inline double gen_p4_mass(gen_p4 p) {
  double m2 = p.e * p.e - p.px * p.px - p.py * p.py - p.pz * p.pz;
  return m2 > 0.0 ? sqrt(m2) : 0.0;
}
/* Length of the three-momentum. */
static inline double gen_p4_p(gen_p4 p) { return sqrt(p.px * p.px + p.py * p.py + p.pz * p.pz); }
/* phi difference wrapped into (-pi, pi]. */
static inline double gen_delta_phi(double phi1, double phi2) {
  double d = phi1 - phi2;
  if (fabs(d) >= 2.0 * M_PI) d = fmod(d, 2.0 * M_PI); /* fmod returns smaller |d| unchanged */
  if (d > M_PI) d -= 2.0 * M_PI;
  if (d <= -M_PI) d += 2.0 * M_PI;
  return d;
}
/* Distance in the (eta, phi) plane. */
double gen_delta_r(gen_p4 a, gen_p4 b);
/* Two unit vectors e1, e2 that with the unit vector n form a right-handed orthonormal basis. */
void gen_perp_basis(const double n[3], double e1[3], double e2[3]);
/* Boost p by velocity (bx, by, bz) (|b| < 1): from the rest frame of a particle moving with
 * that velocity into the lab. */
gen_p4 gen_p4_boost(gen_p4 p, double bx, double by, double bz);

/* ---- decays ---- */
/* Isotropic two-body decay of `parent` (mass M >= m1 + m2) in its rest frame, boosted to
 * the lab. Returns 0, or -1 when the decay is kinematically closed. */
int gen_two_body_decay(gen_rng *rng, gen_p4 parent, double m1, double m2, gen_p4 *d1, gen_p4 *d2);

#define GEN_TOP_MASS 173.0
#define GEN_TOP_WIDTH 1.4
#define GEN_W_MASS 80.4
#define GEN_W_WIDTH 2.1
#define GEN_B_MASS 4.8
/* t -> b W, W -> q q'. quarks[0] = b, quarks[1], quarks[2] = W daughters; *w = the W.
 * Top mass from a Breit-Wigner around 173 GeV is drawn by the caller (it sets `top`). */
void gen_top_decay(gen_rng *rng, gen_p4 top, gen_p4 quarks[3], gen_p4 *w);

/* ---- parton shower ---- */
#define GEN_CF (4.0 / 3.0)
#define GEN_CA 3.0
#define GEN_SHOWER_KT_CUT 1.0
/* alpha_s at one loop, 5 flavours, frozen below the shower cut-off. */
double gen_alpha_s(double kt);
/* Shower one parton of the given mass (colour factor GEN_CF for a quark, GEN_CA for a gluon)
 * from opening angle theta_max downwards, angular-ordered; emitted gluons are massless.
 * Writes the final partons to out (at most max_out; the shower stops adding emissions when
 * out is full) and returns how many; out[0] is the emitter itself after its recoils. */
int gen_shower(gen_rng *rng, gen_p4 parton, double mass, double colour, double theta_max, gen_p4 *out,
               int max_out);

/* ---- hadrons, pile-up, detector ---- */
typedef struct {
  gen_p4 p;
  double eta, phi; /* the direction, when known from how the particle was made (has_angles) */
  int charged;     /* 1 charged (tracker), 0 neutral (calorimeter only) */
  int has_angles;
} gen_particle;

/* Turn partons into hadrons (pions): each parton fragments into several hadrons sharing its
 * energy, each with a Gaussian transverse kick of ~0.3 GeV; 2/3 of them are charged.
 * Returns how many hadrons were written (at most max_out). */
int gen_hadronize(gen_rng *rng, const gen_p4 *partons, int n_partons, gen_particle *out, int max_out);
/* Soft pile-up / underlying event around (eta, phi): a Poisson number of soft pions spread
 * uniformly over a disc of radius 1.0. Returns how many were written. */
int gen_pileup(gen_rng *rng, double eta, double phi, gen_particle *out, int max_out);
/* Detector response in place: tracker resolution for charged particles, calorimeter
 * stochastic + constant term for neutral ones, then drop particles below the minimum pT.
 * Returns the number kept (compacted to the front). */
int gen_detector(gen_rng *rng, gen_particle *ps, int n);

/* ---- one jet ---- */
#define GEN_JET_R 0.8
#define GEN_JET_PT_MIN 550.0
#define GEN_JET_PT_MAX 650.0
#define GEN_JET_ETA_MAX 2.0
#define GEN_MAX_PARTICLES 1024

typedef struct {
  uint64_t seed;
  double signal_fraction; /* probability that a jet is a top jet */
} gen_config;

/* Generate jet number `index`: its label (1 top, 0 QCD), and its constituents as rows
 * (E, px, py, pz) in c[max_const][4], pT-ordered and zero-padded, with charged[max_const]
 * flags (0 on padding). Returns the number of constituents stored (<= max_const).
 * Depends only on (cfg, index). */
int gen_jet(const gen_config *cfg, uint64_t index, int max_const, float *c, uint8_t *charged, int *label);

/* Jets row0 .. row0 + n - 1 into c[n][max_const][4], charged[n][max_const] and labels[n];
 * OpenMP over jets (the result does not depend on the thread count). */
void gen_jets(const gen_config *cfg, uint64_t row0, int n, int max_const, float *c, uint8_t *charged,
              int32_t *labels);

#endif
