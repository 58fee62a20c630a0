/* jet.c - one top or QCD jet, from the hard parton to stored constituents (see generate.h).
 *
 * Jet index i draws everything from stream (seed, i): first its class, then attempts until
 * one passes the selection (reconstructed pT in 550-650 GeV, |eta| < 2, and for top jets all
 * three decay quarks within dR < 0.8 of the jet axis, as in the reference dataset).
 */
#include "jetcnn/generate.h"

#include <math.h>
#include <string.h>

#define PARTON_PT_MIN 545.0 /* the hard parton's pT range; reconstruction loses a few % */
#define PARTON_PT_MAX 690.0
#define PARTON_ETA_MAX 2.2
#define TOP_MASS_LO 160.0
#define TOP_MASS_HI 186.0
#define QCD_THETA_MAX 1.0    /* QCD jets radiate up to beyond the cone: out-of-cone losses */
#define B_THETA_MAX 1.5 /* the b is colour-connected to the beam side: it radiates widely */
#define GLUON_FRACTION 0.65 /* of QCD jets at pT ~ 600 GeV from pp collisions */
#define B_SEMILEPTONIC 0.21  /* BR(b -> l nu X): the neutrino leaves unseen */
#define NU_FRACTION_LO 0.1   /* of the b momentum carried by the neutrino */
#define NU_FRACTION_HI 0.4
#define CONTAINMENT_PREFILTER 1.0 /* dR(quark, top) beyond which no jet axis can contain it */
#define PRESELECT_MARGIN 25.0 /* GeV: hadronisation and detector move the cone pT by less */
#define MAX_PARTONS 256
#define MAX_ATTEMPTS 1000

typedef struct {
  gen_particle ps[GEN_MAX_PARTICLES];
  gen_p4 partons[MAX_PARTONS];
  int order[GEN_MAX_PARTICLES];
  double pt[GEN_MAX_PARTICLES], eta[GEN_MAX_PARTICLES], phi[GEN_MAX_PARTICLES];
} jet_work;

/* Shower the hard partons of one attempt; returns the number of final partons (-1: the
 * attempt is rejected early). Sets *axis to
 * the direction the cone starts from and quarks[] (top only) for the containment check. */
static int hard_process(gen_rng *rng, int is_top, gen_p4 *axis, gen_p4 quarks[3], gen_p4 *partons) {
  double pt = PARTON_PT_MIN + (PARTON_PT_MAX - PARTON_PT_MIN) * gen_rng_uniform(rng);
  double eta = PARTON_ETA_MAX * (2.0 * gen_rng_uniform(rng) - 1.0);
  double phi = M_PI * (2.0 * gen_rng_uniform(rng) - 1.0);
  int n = 0;
  if (is_top) {
    /* the top radiates first (outside its dead cone m_t / E ~ 0.3), then decays */
    double m = gen_rng_breit_wigner(rng, GEN_TOP_MASS, GEN_TOP_WIDTH, TOP_MASS_LO, TOP_MASS_HI);
    gen_p4 top = gen_p4_from_pt_eta_phi_m(pt, eta, phi, m), w;
    *axis = top;
    n = gen_shower(rng, top, m, GEN_CF, QCD_THETA_MAX, partons, MAX_PARTONS / 4);
    gen_top_decay(rng, partons[0], quarks, &w);
    /* cheap early rejection: a decay this wide cannot end up contained in the jet */
    for (int q = 0; q < 3; q++)
      if (gen_delta_r(quarks[q], partons[0]) > CONTAINMENT_PREFILTER) return -1;
    /* the W daughters form a colour singlet: each radiates inside their opening angle */
    double cos_qq = (quarks[1].px * quarks[2].px + quarks[1].py * quarks[2].py + quarks[1].pz * quarks[2].pz) /
                    (gen_p4_p(quarks[1]) * gen_p4_p(quarks[2]));
    double theta_qq = acos(fmax(-1.0, fmin(1.0, cos_qq)));
    if (gen_rng_uniform(rng) < B_SEMILEPTONIC) {
      double keep = 1.0 - (NU_FRACTION_LO + (NU_FRACTION_HI - NU_FRACTION_LO) * gen_rng_uniform(rng));
      gen_p4 b = quarks[0];
      b.px *= keep;
      b.py *= keep;
      b.pz *= keep;
      b.e = sqrt(b.px * b.px + b.py * b.py + b.pz * b.pz + GEN_B_MASS * GEN_B_MASS);
      quarks[0] = b;
    }
    /* the shower output replaces the top in partons[0] */
    int k = gen_shower(rng, quarks[0], GEN_B_MASS, GEN_CF, B_THETA_MAX, partons + n, MAX_PARTONS / 4);
    partons[0] = partons[n];
    for (int i = 1; i < k; i++) partons[n + i - 1] = partons[n + i];
    n += k - 1;
    n += gen_shower(rng, quarks[1], 0.0, GEN_CF, theta_qq, partons + n, MAX_PARTONS / 4);
    n += gen_shower(rng, quarks[2], 0.0, GEN_CF, theta_qq, partons + n, MAX_PARTONS / 4);
  } else {
    double colour = gen_rng_uniform(rng) < GLUON_FRACTION ? GEN_CA : GEN_CF;
    gen_p4 parton = gen_p4_from_pt_eta_phi_m(pt, eta, phi, 0.0);
    *axis = parton;
    n = gen_shower(rng, parton, 0.0, colour, QCD_THETA_MAX, partons, MAX_PARTONS);
  }
  return n;
}

/* 1 if the partons within R of axis carry a pT that can still end inside the window: skips
 * hadronising and reconstructing most attempts that would fail the selection. */
static int parton_preselect(const gen_p4 *partons, int n, gen_p4 axis) {
  double eta = gen_p4_eta(axis), phi = gen_p4_phi(axis);
  gen_p4 sum = {0.0, 0.0, 0.0, 0.0};
  for (int i = 0; i < n; i++) {
    double deta = gen_p4_eta(partons[i]) - eta, dphi = gen_delta_phi(gen_p4_phi(partons[i]), phi);
    if (deta * deta + dphi * dphi < GEN_JET_R * GEN_JET_R) sum = gen_p4_sum(sum, partons[i]);
  }
  double pt = gen_p4_pt(sum);
  return pt > GEN_JET_PT_MIN - PRESELECT_MARGIN && pt < GEN_JET_PT_MAX + PRESELECT_MARGIN;
}

/* Indices (into w->order) of the particles within R of axis; returns how many, and their sum. */
static int cone_select(jet_work *w, int n, gen_p4 axis, gen_p4 *sum) {
  double eta = gen_p4_eta(axis), phi = gen_p4_phi(axis);
  int m = 0;
  *sum = (gen_p4){0.0, 0.0, 0.0, 0.0};
  for (int i = 0; i < n; i++) {
    double deta = w->eta[i] - eta, dphi = gen_delta_phi(w->phi[i], phi);
    if (deta * deta + dphi * dphi < GEN_JET_R * GEN_JET_R) {
      w->order[m++] = i;
      *sum = gen_p4_sum(*sum, w->ps[i].p);
    }
  }
  return m;
}

/* Rows of the selected particles w->order[0..m), pT-ordered; returns how many were stored. */
static int store(jet_work *w, int m, int max_const, float *c, uint8_t *charged) {
  /* insertion sort: stable, allocation-free, no shared state across threads; m is ~100 */
  for (int a = 1; a < m; a++) {
    int key = w->order[a], b = a - 1;
    while (b >= 0 && w->pt[w->order[b]] < w->pt[key]) {
      w->order[b + 1] = w->order[b];
      b--;
    }
    w->order[b + 1] = key;
  }
  if (m > max_const) m = max_const;
  memset(c, 0, sizeof(float) * 4 * (size_t)max_const);
  memset(charged, 0, (size_t)max_const);
  for (int k = 0; k < m; k++) {
    const gen_particle *q = &w->ps[w->order[k]];
    c[4 * k + 0] = (float)q->p.e;
    c[4 * k + 1] = (float)q->p.px;
    c[4 * k + 2] = (float)q->p.py;
    c[4 * k + 3] = (float)q->p.pz;
    charged[k] = (uint8_t)q->charged;
  }
  return m;
}

int gen_jet(const gen_config *cfg, uint64_t index, int max_const, float *c, uint8_t *charged, int *label) {
  static _Thread_local jet_work w; /* 60 kB: too big for comfortable stacks in OpenMP threads */
  gen_rng rng;
  gen_rng_init(&rng, cfg->seed, index);
  int is_top = gen_rng_uniform(&rng) < cfg->signal_fraction;
  *label = is_top;
  gen_p4 axis = {0}, quarks[3];
  int n = 0, m = 0;
  for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    int n_partons = hard_process(&rng, is_top, &axis, quarks, w.partons);
    if (n_partons < 0 || !parton_preselect(w.partons, n_partons, axis)) continue;
    n = gen_hadronize(&rng, w.partons, n_partons, w.ps, GEN_MAX_PARTICLES);
    n += gen_pileup(&rng, gen_p4_eta(axis), gen_p4_phi(axis), w.ps + n, GEN_MAX_PARTICLES - n);
    n = gen_detector(&rng, w.ps, n);
    for (int i = 0; i < n; i++) {
      const gen_particle *q = &w.ps[i];
      w.pt[i] = gen_p4_pt(q->p);
      w.eta[i] = q->has_angles ? q->eta : gen_eta_pt(w.pt[i], q->p.pz);
      w.phi[i] = q->has_angles ? q->phi : gen_p4_phi(q->p);
    }
    /* a cone around the parton axis, then the jet is the cone around that cone's axis */
    gen_p4 jet;
    if (cone_select(&w, n, axis, &jet) == 0) continue;
    m = cone_select(&w, n, jet, &jet);
    if (m == 0) continue;
    double pt = gen_p4_pt(jet);
    if (pt < GEN_JET_PT_MIN || pt > GEN_JET_PT_MAX || fabs(gen_p4_eta(jet)) >= GEN_JET_ETA_MAX) continue;
    if (is_top && (gen_delta_r(quarks[0], jet) >= GEN_JET_R || gen_delta_r(quarks[1], jet) >= GEN_JET_R ||
                   gen_delta_r(quarks[2], jet) >= GEN_JET_R))
      continue;
    break;
  }
  return store(&w, m, max_const, c, charged);
}

void gen_jets(const gen_config *cfg, uint64_t row0, int n, int max_const, float *c, uint8_t *charged,
              int32_t *labels) {
#pragma omp parallel for schedule(dynamic, 8)
  for (int i = 0; i < n; i++) {
    int label = 0;
    gen_jet(cfg, row0 + (uint64_t)i, max_const, c + (size_t)i * (size_t)max_const * 4,
            charged + (size_t)i * (size_t)max_const, &label);
    labels[i] = label;
  }
}
