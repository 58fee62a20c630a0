/* jetobs.h - jet observables from constituent rows: kinematics and N-subjettiness.
 *
 * Constituents are rows (E, px, py, pz) of float, as stored in /constituents; a row of four
 * zeros is padding and is skipped wherever it sits.
 */
#ifndef JETCNN_JETOBS_H
#define JETCNN_JETOBS_H

/* Most constituents per jet the observables (and images) accept. */
#define JETOBS_MAX_CONST 1024

typedef struct {
  double pt, eta, phi, mass; /* of the four-vector sum; all 0 for an empty jet */
  int n;                     /* non-padding constituents */
  double tau[3];             /* tau_1, tau_2, tau_3 */
} jetobs;

/* 1 if row c[0..3] is padding (all four zero). Inline: every row of every jet is tested. */
static inline int jetobs_is_padding(const float *c) {
  return c[0] == 0.0f && c[1] == 0.0f && c[2] == 0.0f && c[3] == 0.0f;
}

/* Observables of a jet of m rows c[m][4] (m <= JETOBS_MAX_CONST). */
void jetobs_compute(const float *c, int m, jetobs *out);

/* N-subjettiness (Thaler & Van Tilburg 2011), beta = 1, for N = 1, 2, 3:
 *   tau_N = sum_k pT_k min_j dR(k, axis_j) / (r0 sum_k pT_k),
 * axes from exclusive-kT clustering (E-scheme) down to N jets, dR in (rapidity, phi).
 * tau_N = 0 when the jet has at most N constituents. */
void jetobs_nsubjettiness(const float *c, int m, double r0, double tau[3]);

#endif
