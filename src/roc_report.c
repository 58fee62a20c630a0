/* roc_report.c - the curves of `jetcnn roc` and their CSV and JSON files (see roc_report.h). */
#include "jetcnn/roc_report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jetcnn/atomic_file.h"
#include "jetcnn/baselines.h"

void roc_report_free(roc_report **rp) {
  if (!rp || !*rp) return;
  roc_report *r = *rp;
  for (int k = 0; k < r->n_curves; k++) {
    for (size_t w = 0; r->curves[k].cuts && w < r->opts.n_eps; w++) {
      roc_report_cut *cut = &r->curves[k].cuts[w];
      free(cut->qcd_pass);
      free(cut->qcd_fail);
      free(cut->pt_bins);
      free(cut->mass_bins);
    }
    free(r->curves[k].cuts);
    free(r->curves[k].score);
    roc_curve_free(&r->curves[k].curve);
    roc_curve_free(&r->curves[k].thin);
    roc_bootstrap_free(&r->curves[k].boot);
  }
  for (int f = 0; f < r->n_files; f++) scores_close(&r->files[f]);
  free(r->curves);
  free(r->files);
  free(r->ensemble);
  free(r);
  *rp = NULL;
}

/* Append a curve scored by x (ownership moves to the report) on the jets of file f. */
static roc_report_curve *add_curve(roc_report *r, const scores_file *f, const char *kind, float *x) {
  roc_report_curve *c = &r->curves[r->n_curves++];
  memset(c, 0, sizeof *c);
  c->source = f->path;
  c->file = f;
  c->kind = kind;
  c->cut = "score >= threshold";
  c->sign = 1.0;
  c->score = x;
  c->label = f->label;
  c->n = f->n;
  c->accuracy = NAN;
  return c;
}

/* The classifier curve of file f, named label (or the path). */
static jc_code add_classifier(roc_report *r, const scores_file *f, const char *label, jc_err *err) {
  float *x = jc_malloc(f->n * sizeof *x, err);
  if (!x) return JC_ERR_NOMEM;
  memcpy(x, f->score, f->n * sizeof *x);
  roc_report_curve *c = add_curve(r, f, "classifier", x);
  c->is_probability = 1;
  snprintf(c->name, sizeof c->name, "%s", label ? label : f->path);
  return JC_OK;
}

/* The curve of the members' mean score (the ensemble), on the jets of the first file. */
static jc_code add_ensemble(roc_report *r, jc_err *err) {
  const size_t n = r->files[0].n;
  const int members = r->n_files;
  float *x = jc_malloc(n * sizeof *x, err);
  r->ensemble = x ? jc_calloc(1, sizeof *r->ensemble, err) : NULL;
  if (!r->ensemble) {
    free(x);
    return JC_ERR_NOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    double sum = 0.0; /* in file order: the same bits on every run */
    for (int f = 0; f < members; f++) sum += r->files[f].score[i];
    x[i] = (float)(sum / members);
  }
  r->ensemble->n_members = members;
  r->ensemble->curve = r->n_curves;
  roc_report_curve *c = add_curve(r, &r->files[0], "ensemble", x);
  c->is_probability = 1;
  snprintf(c->name, sizeof c->name, "ensemble (mean of %d)", members);
  return JC_OK;
}

void roc_report_mean_std(const double *x, size_t n, double *mean, double *std) {
  double sum = 0.0;
  for (size_t i = 0; i < n; i++) sum += x[i];
  *mean = n > 0 ? sum / (double)n : NAN;
  *std = NAN;
  if (n < 2 || !isfinite(*mean)) return;
  double ss = 0.0;
  for (size_t i = 0; i < n; i++) ss += (x[i] - *mean) * (x[i] - *mean);
  *std = sqrt(ss / (double)(n - 1));
}

/* Mean and spread of the members' AUC and rejections. */
static void ensemble_stats(roc_report *r) {
  roc_report_ensemble *e = r->ensemble;
  double x[ROC_REPORT_MAX_MEMBERS];
  for (int f = 0; f < e->n_members; f++) x[f] = r->curves[f].curve->auc;
  roc_report_mean_std(x, (size_t)e->n_members, &e->auc_mean, &e->auc_std);
  for (size_t w = 0; w < r->opts.n_eps; w++) {
    for (int f = 0; f < e->n_members; f++) x[f] = roc_rejection_at(r->curves[f].curve, r->opts.eps[w]);
    roc_report_mean_std(x, (size_t)e->n_members, &e->rejection_mean[w], &e->rejection_std[w]);
  }
}

/* The observable and window baselines on the jets of f. */
static jc_code add_observables(roc_report *r, const scores_file *f, jc_err *err) {
  const roc_report_opts *o = &r->opts;
  float *mass_cut = NULL;
  if (o->has_mass_window) {
    mass_cut = scores_read_column(f, "jet_mass", err);
    if (!mass_cut) return jc_prefix(err, "mass window: ");
  }
  for (int k = 0; k < o->n_observables; k++) {
    const char *name = o->observables[k];
    int low_is_top = 0;
    float *x = baseline_observable(f, name, &low_is_top, err);
    if (!x) {
      free(mass_cut);
      return jc_prefix(err, "baseline %s: ", name);
    }
    roc_report_curve *c = add_curve(r, f, o->has_window ? "window" : "observable", x);
    if (o->has_window) {
      snprintf(c->name, sizeof c->name, "%s[%g:%g]", name, o->window[0], o->window[1]);
      c->cut = "observable inside the window (score 1) or not (score 0)";
      baseline_window(x, f->n, o->window[0], o->window[1]);
    } else {
      snprintf(c->name, sizeof c->name, "%s", name);
      c->cut = low_is_top ? "observable <= threshold" : "observable >= threshold";
      if (low_is_top) {
        c->sign = -1.0;
        for (size_t i = 0; i < f->n; i++) x[i] = -x[i];
      }
    }
    if (mass_cut) {
      size_t len = strlen(c->name);
      snprintf(c->name + len, sizeof c->name - len, " & mass[%g:%g]", o->mass_window[0], o->mass_window[1]);
      baseline_mass_window(x, mass_cut, f->n, o->mass_window[0], o->mass_window[1]);
    }
  }
  free(mass_cut);
  return JC_OK;
}

/* The (jet_mass, tau32) likelihood baseline on the jets of f. */
static jc_code add_likelihood(roc_report *r, const scores_file *f, jc_err *err) {
  int low = 0;
  float *mass = baseline_observable(f, "jet_mass", &low, err);
  float *tau32 = mass ? baseline_observable(f, "tau32", &low, err) : NULL;
  float *x = NULL;
  jc_code rc = tau32 ? baseline_likelihood(mass, tau32, f->label, f->n, r->opts.likelihood_bins, &x, err) : err->code;
  free(mass);
  free(tau32);
  if (rc != JC_OK) return jc_prefix(err, "%s: likelihood baseline: ", f->path);
  roc_report_curve *c = add_curve(r, f, "likelihood", x);
  snprintf(c->name, sizeof c->name, "likelihood(mass,tau32)");
  c->cut = "ln(p_top / p_qcd) of the jet's (mass, tau32), densities from the other half of the jets, >= threshold";
  return JC_OK;
}

/* Curve, thinned curve, bootstrap and accuracy of c. */
static jc_code evaluate(const roc_report_opts *o, roc_report_curve *c, jc_err *err) {
  JC_TRY(roc_curve_compute(c->score, c->label, c->n, &c->curve, err));
  if (o->max_points > 0 && c->curve->n_points > o->max_points)
    JC_TRY(roc_curve_thin(c->curve, o->max_points, &c->thin, err));
  if (o->n_boot >= 2) JC_TRY(roc_bootstrap(c->score, c->label, c->n, o->eps, o->n_eps, o->n_boot, o->seed, &c->boot, err));
  if (c->is_probability) c->accuracy = roc_accuracy(c->score, c->label, c->n, 0.5);
  return JC_OK;
}

/* The cut of each working point of classifier or ensemble curve c: sculpting and binned
 * efficiencies, from the jet_mass and jet_pt of the jets of c's file. */
static jc_code add_cuts(const roc_report_opts *o, roc_report_curve *c, jc_err *err) {
  float *mass = scores_read_column(c->file, "jet_mass", err);
  float *pt = mass ? scores_read_column(c->file, "jet_pt", err) : NULL;
  c->cuts = pt ? jc_calloc(o->n_eps, sizeof *c->cuts, err) : NULL;
  jc_code rc = c->cuts ? JC_OK : err->code;
  for (size_t w = 0; rc == JC_OK && w < o->n_eps; w++) {
    roc_report_cut *cut = &c->cuts[w];
    size_t p = roc_point_at(c->curve, o->eps[w]);
    cut->threshold = c->curve->threshold[p];
    cut->eps_s = c->curve->eps_s[p];
    cut->eps_b = c->curve->eps_b[p];
    cut->qcd_pass = jc_malloc((o->n_jsd_edges + 1) * sizeof *cut->qcd_pass, err);
    cut->qcd_fail = cut->qcd_pass ? jc_malloc((o->n_jsd_edges + 1) * sizeof *cut->qcd_fail, err) : NULL;
    cut->pt_bins = cut->qcd_fail ? jc_malloc((o->n_pt_edges - 1) * sizeof *cut->pt_bins, err) : NULL;
    cut->mass_bins = cut->pt_bins ? jc_malloc((o->n_mass_edges - 1) * sizeof *cut->mass_bins, err) : NULL;
    if (!cut->mass_bins) {
      rc = JC_ERR_NOMEM;
      break;
    }
    sculpt_mass_hist(c->score, c->label, mass, c->n, cut->threshold, o->jsd_edges, o->n_jsd_edges, cut->qcd_pass,
                     cut->qcd_fail);
    cut->jsd = sculpt_jsd(cut->qcd_pass, cut->qcd_fail, o->n_jsd_edges + 1);
    sculpt_binned(c->score, c->label, pt, c->n, cut->threshold, o->pt_edges, o->n_pt_edges, cut->pt_bins);
    sculpt_binned(c->score, c->label, mass, c->n, cut->threshold, o->mass_edges, o->n_mass_edges, cut->mass_bins);
  }
  free(mass);
  free(pt);
  return rc == JC_OK ? JC_OK : jc_prefix(err, "sculpting: ");
}

/* Edges: at least 2, strictly increasing, finite. */
static jc_code check_edges(const char *what, const double *edges, size_t n, jc_err *err) {
  if (!edges || n < 2) return jc_fail(err, JC_ERR_USAGE, "%s: at least 2 bin edges needed", what);
  for (size_t k = 0; k < n; k++)
    if (!isfinite(edges[k]) || (k > 0 && !(edges[k] > edges[k - 1])))
      return jc_fail(err, JC_ERR_USAGE, "%s: bin edges must be finite and increasing (edge %zu is %g)", what, k, edges[k]);
  return JC_OK;
}

static jc_code check_opts(const roc_report_opts *o, jc_err *err) {
  if (o->n_files < 1) return jc_fail(err, JC_ERR_USAGE, "no scores file");
  if (o->n_eps > ROC_REPORT_MAX_EPS) return jc_fail(err, JC_ERR_USAGE, "at most %d working points", ROC_REPORT_MAX_EPS);
  for (size_t w = 0; w < o->n_eps; w++)
    if (!(o->eps[w] > 0.0 && o->eps[w] <= 1.0))
      return jc_fail(err, JC_ERR_USAGE, "working point eps_S = %g is outside (0, 1]", o->eps[w]);
  if (o->max_points > 0 && o->max_points < 16) return jc_fail(err, JC_ERR_USAGE, "cannot thin a curve below 16 points");
  if (o->n_boot == 1) return jc_fail(err, JC_ERR_USAGE, "the bootstrap needs 0 or at least 2 replicas");
  if (o->has_window && o->n_observables != 1) return jc_fail(err, JC_ERR_USAGE, "a window cut needs exactly one observable");
  if (o->has_mass_window && o->n_observables == 0) return jc_fail(err, JC_ERR_USAGE, "a mass window needs an observable");
  if (o->sculpt) {
    JC_TRY(check_edges("sculpting histogram", o->jsd_edges, o->n_jsd_edges, err));
    JC_TRY(check_edges("jet-mass bins", o->mass_edges, o->n_mass_edges, err));
    JC_TRY(check_edges("jet-pT bins", o->pt_edges, o->n_pt_edges, err));
  }
  if (o->ensemble && (o->n_files < 2 || o->n_files > ROC_REPORT_MAX_MEMBERS))
    return jc_fail(err, JC_ERR_USAGE, "an ensemble needs 2 to %d scores files, not %d", ROC_REPORT_MAX_MEMBERS, o->n_files);
  return JC_OK;
}

jc_code roc_report_run(const roc_report_opts *opts, roc_report **out, jc_err *err) {
  *out = NULL;
  JC_TRY(check_opts(opts, err));
  roc_report *r = jc_calloc(1, sizeof *r, err);
  if (!r) return JC_ERR_NOMEM;
  r->opts = *opts;
  const roc_report_opts *o = &r->opts;
  int max_curves = o->n_files + 1 + o->n_observables + 1;
  r->files = jc_calloc((size_t)o->n_files, sizeof *r->files, err);
  r->curves = r->files ? jc_calloc((size_t)max_curves, sizeof *r->curves, err) : NULL;
  jc_code rc = r->curves ? JC_OK : JC_ERR_NOMEM;
  for (int f = 0; rc == JC_OK && f < o->n_files; f++) {
    rc = scores_open(o->files[f], &r->files[f], err);
    if (rc != JC_OK) break;
    r->n_files++;
    if (o->ensemble && f > 0) rc = scores_same_jets(&r->files[0], &r->files[f], err);
    if (rc == JC_OK) rc = add_classifier(r, &r->files[f], f < o->n_labels ? o->labels[f] : NULL, err);
  }
  if (rc == JC_OK && o->ensemble) rc = add_ensemble(r, err);
  if (rc == JC_OK) rc = add_observables(r, &r->files[0], err);
  if (rc == JC_OK && o->likelihood) rc = add_likelihood(r, &r->files[0], err);
  for (int k = 0; rc == JC_OK && k < r->n_curves; k++) {
    roc_report_curve *c = &r->curves[k];
    rc = evaluate(o, c, err);
    if (rc == JC_OK && o->sculpt && c->is_probability) rc = add_cuts(o, c, err);
    if (rc != JC_OK) jc_prefix(err, "%s: curve %s: ", c->source, c->name);
  }
  if (rc != JC_OK) {
    roc_report_free(&r);
    return rc;
  }
  if (r->ensemble) ensemble_stats(r);
  *out = r;
  return JC_OK;
}

/* ---- files ------------------------------------------------------------------------------ */

/* A number for CSV/JSON: "inf"/"nan" in CSV; JSON has neither, so null there. */
static void put_num(FILE *f, double x, int json, const char *fmt) {
  if (isfinite(x)) fprintf(f, fmt, x);
  else if (json) fputs("null", f);
  else fputs(isnan(x) ? "nan" : x > 0 ? "inf" : "-inf", f);
}

/* Write a string with the quoting of the format (CSV: RFC 4180; JSON: escapes). */
static void put_str(FILE *f, const char *s, int json) {
  if (!json && !strpbrk(s, ",\"\n")) {
    fputs(s, f);
    return;
  }
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"') fputs(json ? "\\\"" : "\"\"", f);
    else if (json && *s == '\\') fputs("\\\\", f);
    else if (json && (unsigned char)*s < 0x20) fprintf(f, "\\u%04x", (unsigned char)*s);
    else fputc(*s, f);
  }
  fputc('"', f);
}

jc_code roc_report_write_csv(const roc_report *r, const char *path, jc_err *err) {
  atomic_file af;
  JC_TRY(atomic_file_open(&af, path, err));
  FILE *f = af.f;
  fputs("curve,threshold,eps_s,eps_b,rejection,auc\n", f);
  for (int k = 0; k < r->n_curves; k++) {
    const roc_report_curve *e = &r->curves[k];
    const roc_curve *c = e->thin ? e->thin : e->curve;
    for (size_t p = 0; p < c->n_points; p++) {
      put_str(f, e->name, 0);
      fputc(',', f);
      put_num(f, e->sign * c->threshold[p], 0, "%.9g");
      fprintf(f, ",%.17g,%.17g,", c->eps_s[p], c->eps_b[p]);
      put_num(f, c->eps_b[p] > 0 ? 1.0 / c->eps_b[p] : INFINITY, 0, "%.17g");
      fprintf(f, ",%.17g\n", c->auc);
    }
  }
  return atomic_file_commit(&af, err);
}

/* One bin of binned efficiencies as a JSON object, or the CSV columns from n_signal on. */
static void put_bin(FILE *f, const sculpt_bin *b, int json) {
  const char *sep = json ? ", " : ",";
  const double v[] = {b->eps_s, b->eps_s_err, b->eps_b, b->eps_b_err, b->eps_b_upper68, b->rejection, b->rejection_err,
                      b->rejection_lower68};
  static const char *const names[] = {"eps_s", "eps_s_err", "eps_b", "eps_b_err", "eps_b_upper68", "rejection",
                                      "rejection_err", "rejection_lower68"};
  if (json) fprintf(f, "{\"lo\": %.10g, \"hi\": %.10g, \"n_signal\": %llu, \"n_signal_pass\": %llu, \"n_background\": %llu, "
                    "\"n_background_pass\": %llu", b->lo, b->hi, (unsigned long long)b->n_signal,
                    (unsigned long long)b->n_signal_pass, (unsigned long long)b->n_background,
                    (unsigned long long)b->n_background_pass);
  else fprintf(f, "%llu,%llu,%llu,%llu", (unsigned long long)b->n_signal, (unsigned long long)b->n_signal_pass,
               (unsigned long long)b->n_background, (unsigned long long)b->n_background_pass);
  for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
    fputs(sep, f);
    if (json) fprintf(f, "\"%s\": ", names[k]);
    put_num(f, v[k], json, "%.17g");
  }
  if (json) fputc('}', f);
}

static void put_bins(FILE *f, const sculpt_bin *bins, size_t n) {
  fputc('[', f);
  for (size_t k = 0; k < n; k++) {
    fputs(k ? ",\n          " : "\n          ", f);
    put_bin(f, &bins[k], 1);
  }
  fputc(']', f);
}

static void put_counts(FILE *f, const uint64_t *x, size_t n) {
  fputc('[', f);
  for (size_t k = 0; k < n; k++) fprintf(f, "%s%llu", k ? ", " : "", (unsigned long long)x[k]);
  fputc(']', f);
}

/* The cut of a working point (opts.sculpt): its efficiencies, sculpting, binned efficiencies. */
static void write_cut(FILE *f, const roc_report_opts *o, const roc_report_cut *cut) {
  fprintf(f, ",\n        \"cut\": {\"eps_s\": %.17g, \"eps_b\": %.17g},", cut->eps_s, cut->eps_b);
  fputs("\n        \"sculpting\": {\"mass_edges\": [", f);
  for (size_t k = 0; k < o->n_jsd_edges; k++) fprintf(f, "%s%.10g", k ? ", " : "", o->jsd_edges[k]);
  fputs("],\n          \"qcd_pass\": ", f);
  put_counts(f, cut->qcd_pass, o->n_jsd_edges + 1);
  fputs(",\n          \"qcd_fail\": ", f);
  put_counts(f, cut->qcd_fail, o->n_jsd_edges + 1);
  fputs(",\n          \"jsd\": ", f);
  put_num(f, cut->jsd, 1, "%.17g");
  fputs(", \"inverse_jsd\": ", f);
  put_num(f, cut->jsd > 0 ? 1.0 / cut->jsd : cut->jsd == 0 ? INFINITY : NAN, 1, "%.17g");
  fputs("},\n        \"binned\": {\"jet_pt\": ", f);
  put_bins(f, cut->pt_bins, o->n_pt_edges - 1);
  fputs(",\n          \"jet_mass\": ", f);
  put_bins(f, cut->mass_bins, o->n_mass_edges - 1);
  fputc('}', f);
}

jc_code roc_report_write_binned_csv(const roc_report *r, const char *path, jc_err *err) {
  if (!r->opts.sculpt) return jc_fail(err, JC_ERR_USAGE, "%s: binned efficiencies need the sculpting option", path);
  atomic_file af;
  JC_TRY(atomic_file_open(&af, path, err));
  FILE *f = af.f;
  fputs("curve,eps_s_wp,threshold,variable,lo,hi,n_signal,n_signal_pass,n_background,n_background_pass,eps_s,"
        "eps_s_err,eps_b,eps_b_err,eps_b_upper68,rejection,rejection_err,rejection_lower68\n", f);
  for (int k = 0; k < r->n_curves; k++) {
    const roc_report_curve *c = &r->curves[k];
    for (size_t w = 0; c->cuts && w < r->opts.n_eps; w++) {
      for (int var = 0; var < 2; var++) {
        const sculpt_bin *bins = var == 0 ? c->cuts[w].pt_bins : c->cuts[w].mass_bins;
        size_t n_bins = (var == 0 ? r->opts.n_pt_edges : r->opts.n_mass_edges) - 1;
        for (size_t b = 0; b < n_bins; b++) {
          put_str(f, c->name, 0);
          fprintf(f, ",%.10g,%.9g,%s,%.10g,%.10g,", r->opts.eps[w], c->cuts[w].threshold, var == 0 ? "jet_pt" : "jet_mass",
                  bins[b].lo, bins[b].hi);
          put_bin(f, &bins[b], 0);
          fputc('\n', f);
        }
      }
    }
  }
  return atomic_file_commit(&af, err);
}

/* The "ensemble" object: members, mean and spread of their metrics, the averaged curve. */
static void write_ensemble(FILE *f, const roc_report *r) {
  const roc_report_ensemble *e = r->ensemble;
  fputs(",\n  \"ensemble\": {\"members\": [", f);
  for (int k = 0; k < e->n_members; k++) {
    if (k) fputs(", ", f);
    put_str(f, r->curves[k].name, 1);
  }
  fprintf(f, "], \"n_members\": %d, \"curve\": ", e->n_members);
  put_str(f, r->curves[e->curve].name, 1);
  fputs(",\n    \"auc_mean\": ", f);
  put_num(f, e->auc_mean, 1, "%.17g");
  fputs(", \"auc_std\": ", f);
  put_num(f, e->auc_std, 1, "%.6g");
  fputs(",\n    \"working_points\": [", f);
  for (size_t w = 0; w < r->opts.n_eps; w++) {
    fprintf(f, "%s\n      {\"eps_s\": %.10g, \"rejection_mean\": ", w ? "," : "", r->opts.eps[w]);
    put_num(f, e->rejection_mean[w], 1, "%.17g");
    fputs(", \"rejection_std\": ", f);
    put_num(f, e->rejection_std[w], 1, "%.6g");
    fputc('}', f);
  }
  fputs("]}", f);
}

jc_code roc_report_write_json(const roc_report *r, const char *path, jc_err *err) {
  atomic_file af;
  JC_TRY(atomic_file_open(&af, path, err));
  FILE *f = af.f;
  const double *eps = r->opts.eps;
  fprintf(f, "{\n  \"format\": \"jetcnn-roc-1\",\n  \"curves\": [");
  for (int k = 0; k < r->n_curves; k++) {
    const roc_report_curve *e = &r->curves[k];
    const roc_curve *c = e->curve;
    fprintf(f, "%s\n    {\"name\": ", k ? "," : "");
    put_str(f, e->name, 1);
    fputs(", \"source\": ", f);
    put_str(f, e->source, 1);
    fprintf(f, ", \"kind\": \"%s\", \"cut\": \"%s\",\n", e->kind, e->cut);
    fprintf(f, "     \"n_jets\": %zu, \"n_signal\": %llu, \"n_background\": %llu, \"n_points\": %zu,\n", e->n,
            (unsigned long long)c->n_signal, (unsigned long long)c->n_background, c->n_points);
    fprintf(f, "     \"auc\": %.17g, \"auc_err\": ", c->auc);
    put_num(f, e->boot ? e->boot->auc_std : NAN, 1, "%.6g");
    fputs(", \"accuracy\": ", f);
    put_num(f, e->accuracy, 1, "%.17g");
    fprintf(f, ", \"bootstrap_replicas\": %zu,\n     \"working_points\": [", e->boot ? e->boot->n_replicas : 0);
    for (size_t w = 0; w < r->opts.n_eps; w++) {
      double eb = roc_eps_b_at(c, eps[w]);
      fprintf(f, "%s\n       {\"eps_s\": %.10g, \"eps_b\": %.17g, \"rejection\": ", w ? "," : "", eps[w], eb);
      put_num(f, eb > 0 ? 1.0 / eb : INFINITY, 1, "%.17g");
      fputs(", \"rejection_err\": ", f);
      put_num(f, e->boot ? e->boot->rejection_std[w] : NAN, 1, "%.6g");
      fputs(", \"rejection_err_binomial\": ", f);
      put_num(f, roc_rejection_binomial_err(eb, c->n_background), 1, "%.6g");
      fputs(", \"threshold\": ", f);
      put_num(f, e->sign * roc_threshold_at(c, eps[w]), 1, "%.9g");
      if (e->cuts) write_cut(f, &r->opts, &e->cuts[w]);
      fputc('}', f);
    }
    fputs("]}", f);
  }
  fputs("\n  ]", f);
  if (r->ensemble) write_ensemble(f, r);
  fputs("\n}\n", f);
  return atomic_file_commit(&af, err);
}
