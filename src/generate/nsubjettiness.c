/* nsubjettiness.c - exclusive-kT axes and N-subjettiness (see jetobs.h).
 *
 * Clustering uses the nearest-neighbour trick of FastJet's N^2 strategy (Cacciari & Salam
 * 2006): for d_ij = min(kt_i^2, kt_j^2) dR_ij^2 the closest pair is always some particle and
 * its geometric nearest neighbour, so each pseudojet only tracks its nearest neighbour in
 * (y, phi), and a merge re-measures the merged pseudojet against all others and re-scans only
 * the few that pointed at the merged pair. The pseudojets are a structure of arrays: one
 * pseudojet against all others is one vector pass (distances and their minimum), and nothing
 * is stored per pair (a dR^2 matrix cost more to keep up to date than to recompute its rows).
 */
#include "jetcnn/jetobs.h"

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "jetcnn/generate.h"
#ifdef __AVX2__
#include <immintrin.h>
#endif

#define N_AXES 3

typedef struct {
  /* pseudojets: four-momentum, kt^2, rapidity, phi, nearest neighbour and dR^2 to it */
  double e[JETOBS_MAX_CONST], px[JETOBS_MAX_CONST], py[JETOBS_MAX_CONST], pz[JETOBS_MAX_CONST];
  double kt2[JETOBS_MAX_CONST], y[JETOBS_MAX_CONST], phi[JETOBS_MAX_CONST];
  int nn[JETOBS_MAX_CONST];
  double nn_dr2[JETOBS_MAX_CONST];
  /* the particles, for tau */
  double pt0[JETOBS_MAX_CONST], y0[JETOBS_MAX_CONST], phi0[JETOBS_MAX_CONST];
  double scratch[JETOBS_MAX_CONST]; /* distances of one pseudojet to all, or the d_i */
} cluster_work;

static void set_kinematics(cluster_work *w, int i) {
  double px = w->px[i], py = w->py[i], e = w->e[i], pz = w->pz[i];
  w->kt2[i] = px * px + py * py;
  w->phi[i] = (px == 0.0 && py == 0.0) ? 0.0 : gen_atan2(py, px);
  if (e > fabs(pz)) {
    w->y[i] = 0.5 * log((e + pz) / (e - pz));
  } else {
    /* massless to rounding: fall back to the pseudorapidity */
    double pt = sqrt(w->kt2[i]);
    w->y[i] = pt > 0.0 ? asinh(pz / pt) : 0.0;
  }
}

#if defined(__AVX2__) && defined(__FMA__)
#define FUSED_DISTANCES 1
#endif

static double dr2(double y1, double phi1, double y2, double phi2) {
  double dphi = fabs(phi1 - phi2);
  dphi = dphi > M_PI ? 2.0 * M_PI - dphi : dphi;
  double dy = y1 - y2;
#ifdef FUSED_DISTANCES
  return fma(dy, dy, dphi * dphi); /* exactly as the vector lanes below */
#else
  return dy * dy + dphi * dphi;
#endif
}

/* First k < n with d[k] == best (-1 if best is DBL_MAX): a bit mask of the positions holding
 * it, 64 at a time, so that no branch depends on where the minimum sits. */
static int position_of(const double *d, int n, double best) {
  if (best == DBL_MAX) return -1;
  for (int base = 0; base < n; base += 64) {
    int end = n - base < 64 ? n : base + 64, k = base;
    uint64_t at = 0;
#ifdef __AVX2__
    __m256d b4 = _mm256_set1_pd(best);
    for (; k + 4 <= end; k += 4)
      at |= (uint64_t)_mm256_movemask_pd(_mm256_cmp_pd(_mm256_loadu_pd(d + k), b4, _CMP_EQ_OQ)) << (k - base);
#endif
    for (; k < end; k++) at |= (uint64_t)(d[k] == best) << (k - base);
    if (at) return base + __builtin_ctzll(at);
  }
  return -1;
}

/* Smallest of d[0..n) (DBL_MAX if n = 0). Two running minima of four lanes with AVX2: one is
 * a chain of dependent compare-and-selects. */
static double min_of(const double *d, int n) {
  double best = DBL_MAX;
  int k = 0;
#ifdef __AVX2__
  __m256d m0 = _mm256_set1_pd(DBL_MAX), m1 = m0;
  for (; k + 8 <= n; k += 8) {
    m0 = _mm256_min_pd(m0, _mm256_loadu_pd(d + k));
    m1 = _mm256_min_pd(m1, _mm256_loadu_pd(d + k + 4));
  }
  double lanes[4];
  _mm256_storeu_pd(lanes, _mm256_min_pd(m0, m1));
  for (int l = 0; l < 4; l++) best = lanes[l] < best ? lanes[l] : best;
#endif
  for (; k < n; k++) best = d[k] < best ? d[k] : best;
  return best;
}

/* d[k] = dR^2 between pseudojets i and k for k < n, d[i] = DBL_MAX; returns the smallest. With
 * AVX2 the distances and their minimum come out of one pass. */
static double distances(const cluster_work *w, int n, int i, double *restrict d) {
  double y = w->y[i], phi = w->phi[i];
  int k = 0;
  double best = DBL_MAX;
#ifdef FUSED_DISTANCES
  const __m256d vy = _mm256_set1_pd(y), vphi = _mm256_set1_pd(phi), pi = _mm256_set1_pd(M_PI);
  const __m256d two_pi = _mm256_set1_pd(2.0 * M_PI), big = _mm256_set1_pd(DBL_MAX);
  const __m256d abs_mask = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7fffffffffffffffLL));
  const __m256i vi = _mm256_set1_epi64x(i), four = _mm256_set1_epi64x(4);
  __m256i idx = _mm256_set_epi64x(3, 2, 1, 0);
  __m256d m4 = big;
  for (; k + 4 <= n; k += 4) {
    __m256d dphi = _mm256_and_pd(_mm256_sub_pd(_mm256_loadu_pd(w->phi + k), vphi), abs_mask);
    dphi = _mm256_blendv_pd(dphi, _mm256_sub_pd(two_pi, dphi), _mm256_cmp_pd(dphi, pi, _CMP_GT_OQ));
    __m256d dy = _mm256_sub_pd(_mm256_loadu_pd(w->y + k), vy);
    __m256d dk = _mm256_fmadd_pd(dy, dy, _mm256_mul_pd(dphi, dphi));
    dk = _mm256_blendv_pd(dk, big, _mm256_castsi256_pd(_mm256_cmpeq_epi64(idx, vi)));
    _mm256_storeu_pd(d + k, dk);
    m4 = _mm256_min_pd(m4, dk);
    idx = _mm256_add_epi64(idx, four);
  }
  double lanes[4];
  _mm256_storeu_pd(lanes, m4);
  for (int l = 0; l < 4; l++) best = lanes[l] < best ? lanes[l] : best;
  for (; k < n; k++) {
    d[k] = k == i ? DBL_MAX : dr2(w->y[k], w->phi[k], y, phi);
    best = d[k] < best ? d[k] : best;
  }
#else
  for (; k < n; k++) d[k] = dr2(w->y[k], w->phi[k], y, phi);
  if (i < n) d[i] = DBL_MAX;
  best = min_of(d, n);
#endif
  return best;
}

static void find_nn(cluster_work *w, int n, int i) {
  w->nn_dr2[i] = distances(w, n, i, w->scratch);
  w->nn[i] = position_of(w->scratch, n, w->nn_dr2[i]);
}

/* Merge pair (a, b), a < b, into a, drop b (the last pseudojet moves into its slot); returns n - 1. */
static int merge(cluster_work *w, int n, int a, int b) {
  w->e[a] += w->e[b];
  w->px[a] += w->px[b];
  w->py[a] += w->py[b];
  w->pz[a] += w->pz[b];
  set_kinematics(w, a);
  int last = n - 1;
  if (b != last) {
    w->e[b] = w->e[last], w->px[b] = w->px[last], w->py[b] = w->py[last], w->pz[b] = w->pz[last];
    w->kt2[b] = w->kt2[last], w->y[b] = w->y[last], w->phi[b] = w->phi[last];
    w->nn[b] = w->nn[last];
    w->nn_dr2[b] = w->nn_dr2[last];
  }
  n--;
  double *d_a = w->scratch;
  double nearest_a = distances(w, n, a, d_a);
  int stale[JETOBS_MAX_CONST], n_stale = 0;
  for (int k = 0; k < n; k++) {
    if (k == a) continue;
    if (w->nn[k] == a || w->nn[k] == b) {
      stale[n_stale++] = k;
    } else {
      if (w->nn[k] == last) w->nn[k] = b;
      /* the merged pseudojet may now be closer than k's neighbour */
      if (d_a[k] < w->nn_dr2[k]) {
        w->nn_dr2[k] = d_a[k];
        w->nn[k] = a;
      }
    }
  }
  w->nn_dr2[a] = nearest_a;
  w->nn[a] = position_of(d_a, n, nearest_a);
  for (int s = 0; s < n_stale; s++) find_nn(w, n, stale[s]);
  return n;
}

/* tau = sum_k pt_k min_j dR(k, axis_j) over the n_axes current pseudojets. */
static double tau_sum(const cluster_work *w, int n_particles, int n_axes) {
  double sum = 0.0;
  for (int k = 0; k < n_particles; k++) {
    double best = DBL_MAX;
    for (int j = 0; j < n_axes; j++) {
      double d = dr2(w->y0[k], w->phi0[k], w->y[j], w->phi[j]);
      if (d < best) best = d;
    }
    sum += w->pt0[k] * sqrt(best);
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
    w.e[n] = row[0];
    w.px[n] = row[1];
    w.py[n] = row[2];
    w.pz[n] = row[3];
    set_kinematics(&w, n);
    if (w.kt2[n] <= 0.0) continue; /* along the beam: no pT, no weight in tau */
    w.pt0[n] = sqrt(w.kt2[n]);
    w.y0[n] = w.y[n];
    w.phi0[n] = w.phi[n];
    pt_sum += w.pt0[n];
    n++;
  }
  for (int a = 0; a < N_AXES; a++) tau[a] = 0.0;
  if (n <= 1 || pt_sum <= 0.0) return;
  int n_particles = n;
  for (int i = 0; i < n; i++) find_nn(&w, n, i);
  while (n > 1) {
    if (n <= N_AXES) tau[n - 1] = tau_sum(&w, n_particles, n) / (r0 * pt_sum);
    for (int i = 0; i < n; i++) w.scratch[i] = w.kt2[i] * w.nn_dr2[i];
    int best = position_of(w.scratch, n, min_of(w.scratch, n));
    int other = w.nn[best];
    int a = best < other ? best : other, b = best < other ? other : best;
    n = merge(&w, n, a, b);
  }
  tau[0] = tau_sum(&w, n_particles, 1) / (r0 * pt_sum);
}
