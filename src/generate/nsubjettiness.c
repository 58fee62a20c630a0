/* nsubjettiness.c - exclusive-kT axes and N-subjettiness (see jetobs.h).
 *
 * Clustering uses the nearest-neighbour trick of FastJet's N^2 strategy (Cacciari & Salam
 * 2006): for d_ij = min(kt_i^2, kt_j^2) dR_ij^2 the closest pair is always some particle and
 * its geometric nearest neighbour, so each particle only tracks its nearest neighbour in
 * (y, phi) and a merge updates the few particles that pointed at the merged pair. For the
 * usual jet (< 256 constituents) the pairwise dR^2 are kept in a matrix, so a merge computes
 * one new row instead of re-measuring every distance it looks at.
 */
#include "jetcnn/jetobs.h"

#include <float.h>
#include <stddef.h>
#include <math.h>

#define N_AXES 3

typedef struct {
  double e, px, py, pz;
  double kt2, y, phi;
} pseudojet;

/* Pseudojets of more than DR_MATRIX_MAX constituents are clustered without the matrix. */
#define DR_MATRIX_MAX 256

typedef struct {
  pseudojet jets[JETOBS_MAX_CONST];
  int nn[JETOBS_MAX_CONST];
  double nn_dr2[JETOBS_MAX_CONST];
  double pt[JETOBS_MAX_CONST], y[JETOBS_MAX_CONST], phi[JETOBS_MAX_CONST];
  int use_matrix, stride;
  double dr2[DR_MATRIX_MAX * DR_MATRIX_MAX]; /* dR^2 of pseudojets i, k at [i * stride + k] */
} cluster_work;

static void set_kinematics(pseudojet *j) {
  j->kt2 = j->px * j->px + j->py * j->py;
  j->phi = (j->px == 0.0 && j->py == 0.0) ? 0.0 : atan2(j->py, j->px);
  double pt = sqrt(j->kt2);
  if (j->e > fabs(j->pz)) {
    j->y = 0.5 * log((j->e + j->pz) / (j->e - j->pz));
  } else {
    /* massless to rounding: fall back to the pseudorapidity */
    j->y = pt > 0.0 ? asinh(j->pz / pt) : 0.0;
  }
}

static double dr2(double y1, double phi1, double y2, double phi2) {
  double dphi = fabs(phi1 - phi2);
  dphi = dphi > M_PI ? 2.0 * M_PI - dphi : dphi;
  double dy = y1 - y2;
  return dy * dy + dphi * dphi;
}

static double pair_dr2(const cluster_work *w, int i, int k) {
  return w->use_matrix ? w->dr2[i * w->stride + k] : dr2(w->jets[i].y, w->jets[i].phi, w->jets[k].y, w->jets[k].phi);
}

/* Row i of the matrix (and column i) from pseudojet i's current (y, phi). */
static void fill_row(cluster_work *w, int n, int i) {
  double yi = w->jets[i].y, phii = w->jets[i].phi;
  double *row = w->dr2 + (size_t)i * (size_t)w->stride;
  for (int k = 0; k < n; k++) row[k] = dr2(yi, phii, w->jets[k].y, w->jets[k].phi);
  for (int k = 0; k < n; k++) w->dr2[(size_t)k * (size_t)w->stride + (size_t)i] = row[k];
}

static void find_nn(cluster_work *w, int n, int i) {
  int best = -1;
  double best_d = DBL_MAX;
  if (w->use_matrix) {
    /* branch-free argmin: which neighbour is nearest is unpredictable */
    const double *row = w->dr2 + (size_t)i * (size_t)w->stride;
    for (int k = 0; k < n; k++) {
      double d = k == i ? DBL_MAX : row[k];
      int closer = d < best_d;
      best_d = closer ? d : best_d;
      best = closer ? k : best;
    }
  } else {
    for (int k = 0; k < n; k++) {
      if (k == i) continue;
      double d = pair_dr2(w, i, k);
      if (d < best_d) {
        best_d = d;
        best = k;
      }
    }
  }
  w->nn[i] = best;
  w->nn_dr2[i] = best_d;
}

/* Merge pair (a, b), a < b, into a, drop b (the last pseudojet moves into its slot); returns n - 1. */
static int merge(cluster_work *w, int n, int a, int b) {
  pseudojet *ja = &w->jets[a], *jb = &w->jets[b];
  ja->e += jb->e;
  ja->px += jb->px;
  ja->py += jb->py;
  ja->pz += jb->pz;
  set_kinematics(ja);
  int last = n - 1;
  if (b != last) {
    w->jets[b] = w->jets[last];
    w->nn[b] = w->nn[last];
    w->nn_dr2[b] = w->nn_dr2[last];
    if (w->use_matrix) {
      size_t st = (size_t)w->stride;
      for (int k = 0; k < n; k++) w->dr2[(size_t)b * st + (size_t)k] = w->dr2[(size_t)last * st + (size_t)k];
      for (int k = 0; k < n; k++) w->dr2[(size_t)k * st + (size_t)b] = w->dr2[(size_t)b * st + (size_t)k];
      w->dr2[(size_t)b * st + (size_t)b] = 0.0;
    }
  }
  n--;
  if (w->use_matrix) fill_row(w, n, a);
  int stale[JETOBS_MAX_CONST], n_stale = 0;
  /* row a was just filled: read dR^2(k, a) along it rather than down column a */
  const double *row_a = w->use_matrix ? w->dr2 + (size_t)a * (size_t)w->stride : NULL;
  for (int k = 0; k < n; k++) {
    if (k == a || w->nn[k] == a || w->nn[k] == b) {
      stale[n_stale++] = k;
    } else {
      if (w->nn[k] == last) w->nn[k] = b;
      /* the merged pseudojet may now be closer than k's neighbour */
      double d = row_a ? row_a[k] : pair_dr2(w, k, a);
      if (d < w->nn_dr2[k]) {
        w->nn_dr2[k] = d;
        w->nn[k] = a;
      }
    }
  }
  for (int s = 0; s < n_stale; s++) find_nn(w, n, stale[s]);
  return n;
}

/* tau = sum_k pt_k min_j dR(k, axis_j) over the n_axes current pseudojets. */
static double tau_sum(const cluster_work *w, int n_particles, int n_axes) {
  double sum = 0.0;
  for (int k = 0; k < n_particles; k++) {
    double best = DBL_MAX;
    for (int j = 0; j < n_axes; j++) {
      double d = dr2(w->y[k], w->phi[k], w->jets[j].y, w->jets[j].phi);
      if (d < best) best = d;
    }
    sum += w->pt[k] * sqrt(best);
  }
  return sum;
}

void jetobs_nsubjettiness(const float *c, int m, double r0, double tau[3]) {
  static _Thread_local cluster_work w;
  int n = 0;
  double pt_sum = 0.0;
  for (int r = 0; r < m && r < JETOBS_MAX_CONST; r++) {
    const float *row = c + 4 * r;
    if (jetobs_is_padding(row)) continue;
    pseudojet *j = &w.jets[n];
    j->e = row[0];
    j->px = row[1];
    j->py = row[2];
    j->pz = row[3];
    set_kinematics(j);
    if (j->kt2 <= 0.0) continue; /* along the beam: no pT, no weight in tau */
    w.pt[n] = sqrt(j->kt2);
    w.y[n] = j->y;
    w.phi[n] = j->phi;
    pt_sum += w.pt[n];
    n++;
  }
  for (int a = 0; a < N_AXES; a++) tau[a] = 0.0;
  if (n <= 1 || pt_sum <= 0.0) return;
  int n_particles = n;
  w.use_matrix = n <= DR_MATRIX_MAX;
  w.stride = n;
  if (w.use_matrix)
    for (int i = 0; i < n; i++) fill_row(&w, i + 1, i);
  for (int i = 0; i < n; i++) find_nn(&w, n, i);
  while (n > 1) {
    if (n <= N_AXES) tau[n - 1] = tau_sum(&w, n_particles, n) / (r0 * pt_sum);
    int best = 0;
    double best_d = DBL_MAX;
    for (int i = 0; i < n; i++) {
      double d = w.jets[i].kt2 * w.nn_dr2[i];
      int closer = d < best_d;
      best_d = closer ? d : best_d;
      best = closer ? i : best;
    }
    int other = w.nn[best];
    int a = best < other ? best : other, b = best < other ? other : best;
    n = merge(&w, n, a, b);
  }
  tau[0] = tau_sum(&w, n_particles, 1) / (r0 * pt_sum);
}
