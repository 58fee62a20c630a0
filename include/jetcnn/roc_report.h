/* roc_report.h - what `jetcnn roc` computes and writes (docs/roc.md): the exact ROC curve of
 * every scores file and of the baselines on the jets of the first one, with bootstrap
 * uncertainties, and the CSV and JSON files for analysis/plot_roc.py.
 *
 * One process: the whole report is computed where it is called (rank 0 of the CLI).
 */
#ifndef JETCNN_ROC_REPORT_H
#define JETCNN_ROC_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "jetcnn/error.h"
#include "jetcnn/roc.h"
#include "jetcnn/scores.h"
#include "jetcnn/sculpt.h"

#define ROC_REPORT_MAX_EPS 8
#define ROC_REPORT_MAX_MEMBERS 64

/* What to compute. Pointers are borrowed for the lifetime of the report. */
typedef struct {
  const char *const *files;     /* scores files (n_files >= 1) */
  int n_files;
  const char *const *labels;    /* curve names of the first n_labels files (default: the path) */
  int n_labels;
  double eps[ROC_REPORT_MAX_EPS]; /* working points eps_S in (0, 1] */
  size_t n_eps;
  size_t max_points;            /* thin the CSV curves to at most this many points (0 = all; else >= 16) */
  size_t n_boot;                /* bootstrap replicas (0 = none, else >= 2) */
  uint64_t seed;                /* of the bootstrap */
  const char *const *observables; /* baselines on the first file's jets: jet_mass, tau32, tau21, any dataset */
  int n_observables;
  int has_window;               /* with one observable: the window cut window[0] <= x <= window[1] */
  double window[2];
  int has_mass_window;          /* observable baselines only select jets inside this jet_mass window */
  double mass_window[2];
  int likelihood;               /* add the (jet_mass, tau32) likelihood baseline */
  int likelihood_bins;          /* its grid cells per variable (2..4096) */
  int ensemble;                 /* the files score the same jets (several trainings): check that,
                                 * add the curve of the mean score and the spread over the files */
  int sculpt;                   /* classifier and ensemble curves: sculpting and binned efficiencies
                                 * at each working point (needs /jet_mass and /jet_pt) */
  const double *jsd_edges;      /* jet-mass edges of the sculpting histograms (>= 2) */
  size_t n_jsd_edges;
  const double *mass_edges;     /* jet-mass bins of the binned efficiencies (>= 2 edges) */
  size_t n_mass_edges;
  const double *pt_edges;       /* jet-pT bins of the binned efficiencies (>= 2 edges) */
  size_t n_pt_edges;
} roc_report_opts;

/* One working point of a classifier curve with opts.sculpt: the cut and what it does. */
typedef struct {
  double threshold;             /* the cut score >= threshold (roc_threshold_at) */
  double eps_s, eps_b;          /* of that cut on the whole sample (>= the working point's eps_S) */
  uint64_t *qcd_pass, *qcd_fail; /* (n_jsd_edges + 1) QCD jet-mass histograms (sculpt_mass_hist) */
  double jsd;                   /* sculpt_jsd(qcd_pass, qcd_fail): base-2, in [0, 1] */
  sculpt_bin *pt_bins;          /* (n_pt_edges - 1) efficiencies in bins of jet pT */
  sculpt_bin *mass_bins;        /* (n_mass_edges - 1) efficiencies in bins of jet mass */
} roc_report_cut;

/* One curve of the report. */
typedef struct {
  char name[256];               /* file path or label, "tau32", "jet_mass[150:200]", ... */
  const char *source;           /* the scores file the jets come from (borrowed from opts) */
  const scores_file *file;      /* that file, borrowed from the report */
  const char *kind;             /* "classifier", "ensemble", "observable", "window", "likelihood" (static) */
  const char *cut;              /* how a threshold selects jets, in words (static) */
  double sign;                  /* thresholds are reported as sign * score (-1: low = top observables) */
  int is_probability;           /* 1 for classifiers and ensembles: accuracy at score >= 0.5 is meaningful */
  size_t n;
  float *score;                 /* (n) owned */
  const int32_t *label;         /* (n) borrowed from the report's scores file */
  roc_curve *curve;             /* exact curve, owned */
  roc_curve *thin;              /* thinned copy for the CSV, owned; NULL when not thinned */
  roc_bootstrap_result *boot;   /* owned; NULL without bootstrap */
  double accuracy;              /* at score >= 0.5 when is_probability, else NAN */
  roc_report_cut *cuts;         /* (opts.n_eps) owned, with opts.sculpt for classifiers and ensembles; else NULL */
} roc_report_curve;

/* Several trainings scoring the same jets: the spread of their metrics (opts.ensemble). */
typedef struct {
  int n_members;                /* the trainings: curves[0 .. n_members) */
  int curve;                    /* index of the curve of their mean score (kind "ensemble") */
  double auc_mean, auc_std;     /* mean and sample standard deviation (n - 1) of the members' AUC */
  double rejection_mean[ROC_REPORT_MAX_EPS]; /* of 1/eps_B at each working point; +INFINITY when a */
  double rejection_std[ROC_REPORT_MAX_EPS];  /* member has no QCD jet left there (std then NAN) */
} roc_report_ensemble;

typedef struct {
  roc_report_opts opts;         /* copy of what was asked */
  scores_file *files;           /* (n_files) open scores files */
  int n_files;
  roc_report_curve *curves;     /* (n_curves): one per file, the ensemble, then the baselines */
  int n_curves;
  roc_report_ensemble *ensemble; /* owned; NULL unless opts.ensemble */
} roc_report;

/* Mean and sample standard deviation (n - 1; NAN for n < 2) of x[0..n); a non-finite value
 * makes the mean that value (+INFINITY for an infinite rejection) and the std NAN. */
void roc_report_mean_std(const double *x, size_t n, double *mean, double *std);

/* Read the files, build every curve and its uncertainties. On success *out is owned by the
 * caller (free with roc_report_free). Errors name the file, dataset or curve (JC_ERR_DATA for
 * bad inputs, e.g. ensemble files that do not hold the same jets, naming the file and the first
 * differing jet; JC_ERR_USAGE for inconsistent options). */
jc_code roc_report_run(const roc_report_opts *opts, roc_report **out, jc_err *err);

/* Free a report and set *r = NULL; NULL is fine. */
void roc_report_free(roc_report **r);

/* Every curve (thinned) as CSV: curve,threshold,eps_s,eps_b,rejection,auc (atomic write). */
jc_code roc_report_write_csv(const roc_report *r, const char *path, jc_err *err);

/* Every number of the report as JSON, format "jetcnn-roc-1" (atomic write). */
jc_code roc_report_write_json(const roc_report *r, const char *path, jc_err *err);

/* The binned efficiencies of every curve with cuts as CSV (atomic write), one row per curve,
 * working point, variable and bin: curve,eps_s_wp,threshold,variable,lo,hi,n_signal,
 * n_signal_pass,n_background,n_background_pass,eps_s,eps_s_err,eps_b,eps_b_err,eps_b_upper68,
 * rejection,rejection_err,rejection_lower68. Fails (JC_ERR_USAGE) without opts.sculpt. */
jc_code roc_report_write_binned_csv(const roc_report *r, const char *path, jc_err *err);

#endif
