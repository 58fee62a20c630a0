/* roc.c - `jetcnn roc`: ROC curves, AUC and background rejection from prediction files, with
 * the cut-based and likelihood baselines on the same jets (docs/roc.md).
 *
 * Rank 0 does all the work in one process; other ranks (when launched under mpirun) only
 * agree on the result code. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "jetcnn/dist.h"
#include "jetcnn/h5io.h"
#include "jetcnn/roc.h"

#define SCORES_FORMAT "jetcnn-scores-1"
#define MAX_EPS 8
#define MAX_CURVES (CLI_MAX_VALUES + CLI_MAX_VALUES + 1)

static const char USAGE[] = "jetcnn roc SCORES.h5 [MORE.h5 ...] [options]";
static const char DESCRIPTION[] =
    "Read prediction files written by 'jetcnn predict' (datasets /score = probability of top,\n"
    "/label = 1 top, 0 QCD) and compute, exactly (sorted, ties counted 1/2, no binning), the ROC\n"
    "curve of each file: AUC, accuracy at score >= 0.5, and the background rejection 1/eps_B at\n"
    "fixed signal efficiencies eps_S (linear interpolation on the exact curve), with bootstrap and\n"
    "binomial uncertainties. Baselines on the jets of the first file: cut-based observables\n"
    "(--observable, --window) and the mass x tau32 likelihood (--likelihood). Observables are\n"
    "1-D datasets cut from the top-like end: jet_mass and any other dataset as stored (high =\n"
    "top); tau32 = tau3/tau2 and tau21 = tau2/tau1 (low = top; 1 when the denominator is 0).\n"
    "Prints a table; "
    "--csv and --json write the curves and numbers\n"
    "for analysis/plot_roc.py. See docs/roc.md.";

enum { OPT_CSV, OPT_JSON, OPT_EPS, OPT_MAXPTS, OPT_BOOT, OPT_SEED, OPT_OBS, OPT_WINDOW, OPT_MASSWIN,
       OPT_LIKE, OPT_LIKEBINS, OPT_LABEL, N_OPTS };

/* One curve to evaluate: scores (owned) and labels (borrowed from the file they came from). */
typedef struct {
  char name[256];
  const char *source;   /* file the jets come from */
  const char *kind;     /* "classifier", "observable", "window", "likelihood" */
  const char *cut;      /* how a threshold selects jets, for the JSON */
  double sign;          /* thresholds are reported as sign * score (observables where low = top) */
  int is_probability;   /* accuracy at 0.5 is meaningful */
  size_t n;
  float *score;
  const int32_t *label;
  /* results */
  roc_curve *curve, *thin;
  roc_bootstrap_result *boot;
} roc_entry;

/* The jets of one prediction file (caller frees with scores_file_free). */
typedef struct {
  const char *path;
  size_t n;
  float *score;
  int32_t *label;
} scores_file;

static void scores_file_free(scores_file *f) {
  free(f->score);
  free(f->label);
  f->score = NULL;
  f->label = NULL;
}

/* ---- reading ----------------------------------------------------------------------------- */

/* Read 1-D dataset NAME of length *n (any length when *n == 0, then set) as memtype into a new
 * array (caller frees). want is the HDF5 type class the dataset must have. */
static void *read_vector(hid_t file, const char *path, const char *name, hid_t memtype, H5T_class_t want,
                         size_t *n, jc_err *err) {
  int ndims = 0;
  hsize_t dims[4];
  H5T_class_t cls;
  if (h5io_dataset_info(file, path, name, &ndims, dims, &cls, NULL, err) != JC_OK) return NULL;
  if (ndims != 1) {
    jc_fail(err, JC_ERR_DATA, "%s: dataset %s has %d dimensions, expected 1 (one value per jet)", path, name, ndims);
    return NULL;
  }
  if (cls != want) {
    jc_fail(err, JC_ERR_DATA, "%s: dataset %s is not of %s type", path, name,
            want == H5T_INTEGER ? "integer" : "floating-point");
    return NULL;
  }
  if (*n != 0 && dims[0] != *n) {
    jc_fail(err, JC_ERR_DATA, "%s: dataset %s has %llu entries, expected %zu (one per jet, as /score)", path,
            name, (unsigned long long)dims[0], *n);
    return NULL;
  }
  if (dims[0] == 0) {
    jc_fail(err, JC_ERR_DATA, "%s: dataset %s is empty", path, name);
    return NULL;
  }
  size_t bytes = (size_t)dims[0] * H5Tget_size(memtype);
  void *data = jc_malloc(bytes, err);
  if (!data) return NULL;
  if (h5io_read_full(file, path, name, memtype, data, err) != JC_OK) {
    free(data);
    return NULL;
  }
  *n = (size_t)dims[0];
  return data;
}

/* Read a float observable and reject NaN, naming file, dataset and jet. */
static float *read_observable(hid_t file, const char *path, const char *name, size_t n, jc_err *err) {
  size_t len = n;
  float *x = read_vector(file, path, name, H5T_NATIVE_FLOAT, H5T_FLOAT, &len, err);
  for (size_t i = 0; x && i < n; i++)
    if (isnan(x[i])) {
      jc_fail(err, JC_ERR_DATA, "%s: dataset %s: value of jet %zu is NaN", path, name, i);
      free(x);
      return NULL;
    }
  return x;
}

/* Open a prediction file and read /score and /label. */
static jc_code read_scores(const char *path, scores_file *out, hid_t *file_out, jc_err *err) {
  out->path = path;
  out->n = 0;
  hid_t file = h5io_open_read(path, MPI_COMM_SELF, err);
  if (file < 0) return err->code;
  htri_t has_format = H5Aexists(file, "format");
  if (has_format > 0 && h5io_check_format(file, path, SCORES_FORMAT, err) != JC_OK) goto fail;
  out->score = read_vector(file, path, "/score", H5T_NATIVE_FLOAT, H5T_FLOAT, &out->n, err);
  if (!out->score) goto fail;
  out->label = read_vector(file, path, "/label", H5T_NATIVE_INT32, H5T_INTEGER, &out->n, err);
  if (!out->label) goto fail;
  for (size_t i = 0; i < out->n; i++) {
    if (isnan(out->score[i])) {
      jc_fail(err, JC_ERR_DATA, "%s: dataset /score: score of jet %zu is NaN", path, i);
      goto fail;
    }
    if (out->label[i] != 0 && out->label[i] != 1) {
      jc_fail(err, JC_ERR_DATA, "%s: dataset /label: label of jet %zu is %d (expected 0 = QCD or 1 = top)", path,
              i, (int)out->label[i]);
      goto fail;
    }
  }
  *file_out = file;
  return JC_OK;
fail:
  H5Fclose(file);
  scores_file_free(out);
  return err->code;
}

/* tau32 = tau3 / tau2 per jet; 1 (the QCD-like end) when tau2 = 0, i.e. a jet with at most
 * two constituents, which has no three-prong structure. Caller frees. */
static float *read_tau_ratio(hid_t file, const char *path, const char *num, const char *den, size_t n,
                             jc_err *err) {
  float *a = read_observable(file, path, num, n, err);
  float *b = a ? read_observable(file, path, den, n, err) : NULL;
  if (!b) {
    free(a);
    return NULL;
  }
  for (size_t i = 0; i < n; i++) a[i] = b[i] > 0.0f ? a[i] / b[i] : 1.0f;
  free(b);
  return a;
}

/* The values of a named observable: jet_mass and other datasets as stored; tau32 and tau21
 * computed from /tau3, /tau2, /tau1. *low_is_top says which end is top-like. */
static float *observable_values(hid_t file, const char *path, const char *name, size_t n, int *low_is_top,
                                jc_err *err) {
  *low_is_top = 0;
  if (strcmp(name, "tau32") == 0 || strcmp(name, "tau21") == 0) {
    *low_is_top = 1;
    return strcmp(name, "tau32") == 0 ? read_tau_ratio(file, path, "/tau3", "/tau2", n, err)
                                      : read_tau_ratio(file, path, "/tau2", "/tau1", n, err);
  }
  char ds[300];
  snprintf(ds, sizeof ds, "/%s", name[0] == '/' ? name + 1 : name);
  return read_observable(file, path, ds, n, err);
}

/* ---- baselines --------------------------------------------------------------------------- */

/* Index of the bin of x given nb - 1 sorted inner edges: the number of edges <= x. */
static int bin_of(float x, const float *edges, int n_edges) {
  int lo = 0, hi = n_edges;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (edges[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

/* Inner bin edges at the quantiles k/n_bins of x (equal-population bins). Caller frees. */
static float *quantile_edges(const float *x, size_t n, int n_bins, jc_err *err) {
  float *sorted = jc_malloc(n * sizeof *sorted, err);
  float *edges = sorted ? jc_malloc((size_t)n_bins * sizeof *edges, err) : NULL;
  if (!edges) {
    free(sorted);
    return NULL;
  }
  memcpy(sorted, x, n * sizeof *sorted);
  qsort(sorted, n, sizeof *sorted, cmp_float);
  for (int k = 1; k < n_bins; k++) edges[k - 1] = sorted[(size_t)((double)k / n_bins * (double)(n - 1))];
  free(sorted);
  return edges;
}

/* Likelihood ratio of (mass, tau32) from 2-D histograms, cross-fitted in two folds (even and
 * odd jets): each jet is scored with the histograms of the other fold, so the baseline is not
 * evaluated on the jets it was made from. score = p_top / (p_top + p_qcd) in the jet's bin
 * (0.5 where the other fold has no jet in it). Caller frees *out. */
static jc_code likelihood_scores(const float *mass, const float *tau32, const int32_t *label, size_t n,
                                 int n_bins, const char *path, float **out, jc_err *err) {
  *out = NULL;
  jc_code rc = JC_ERR_NOMEM;
  size_t cells = (size_t)n_bins * (size_t)n_bins;
  float *edges_m = quantile_edges(mass, n, n_bins, err);
  float *edges_t = edges_m ? quantile_edges(tau32, n, n_bins, err) : NULL;
  int *bin = edges_t ? jc_malloc(n * sizeof *bin, err) : NULL;
  double *hist = bin ? jc_calloc(4 * cells, sizeof *hist, err) : NULL; /* [fold][class][cell] */
  float *score = hist ? jc_malloc(n * sizeof *score, err) : NULL;
  if (!score) goto done;
  double count[2][2] = {{0, 0}, {0, 0}};
  for (size_t i = 0; i < n; i++) {
    bin[i] = bin_of(mass[i], edges_m, n_bins - 1) * n_bins + bin_of(tau32[i], edges_t, n_bins - 1);
    hist[((i % 2) * 2 + (size_t)label[i]) * cells + (size_t)bin[i]] += 1.0;
    count[i % 2][label[i]] += 1.0;
  }
  for (int f = 0; f < 2; f++)
    if (count[f][0] == 0 || count[f][1] == 0) {
      rc = jc_fail(err, JC_ERR_DATA, "%s: --likelihood: the %s jets hold only one class", path,
                   f == 0 ? "even" : "odd");
      goto done;
    }
  for (size_t i = 0; i < n; i++) {
    size_t other = 1 - i % 2;
    double p_qcd = hist[(other * 2 + 0) * cells + (size_t)bin[i]] / count[other][0];
    double p_top = hist[(other * 2 + 1) * cells + (size_t)bin[i]] / count[other][1];
    score[i] = p_top + p_qcd > 0.0 ? (float)(p_top / (p_top + p_qcd)) : 0.5f;
  }
  *out = score;
  score = NULL;
  rc = JC_OK;
done:
  free(score);
  free(hist);
  free(bin);
  free(edges_t);
  free(edges_m);
  return rc;
}

/* Parse "LO:HI" with LO < HI. */
static jc_code parse_range(const char *opt, const char *text, double range[2], jc_err *err) {
  char buf[128];
  const char *colon = strchr(text, ':');
  if (!colon || strlen(text) >= sizeof buf)
    return jc_fail(err, JC_ERR_USAGE, "--%s: '%s' is not of the form LO:HI", opt, text);
  memcpy(buf, text, (size_t)(colon - text));
  buf[colon - text] = '\0';
  JC_TRY(cli_double(opt, buf, -HUGE_VAL, HUGE_VAL, &range[0], err));
  JC_TRY(cli_double(opt, colon + 1, -HUGE_VAL, HUGE_VAL, &range[1], err));
  if (!(range[0] < range[1])) return jc_fail(err, JC_ERR_USAGE, "--%s: LO must be below HI in '%s'", opt, text);
  return JC_OK;
}

/* Parse a comma-separated list of signal efficiencies in (0, 1]. */
static jc_code parse_eps(const char *text, double *eps, size_t *n_eps, jc_err *err) {
  char buf[256];
  if (strlen(text) >= sizeof buf) return jc_fail(err, JC_ERR_USAGE, "--eps-s: list too long");
  snprintf(buf, sizeof buf, "%s", text);
  *n_eps = 0;
  for (char *item = buf, *next; item; item = next) {
    next = strchr(item, ',');
    if (next) *next++ = '\0';
    if (*n_eps >= MAX_EPS) return jc_fail(err, JC_ERR_USAGE, "--eps-s: at most %d working points", MAX_EPS);
    JC_TRY(cli_double("eps-s", item, 1e-9, 1.0, &eps[(*n_eps)++], err));
  }
  return JC_OK;
}

/* ---- output ------------------------------------------------------------------------------ */

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

/* Open PATH.tmp for writing; the caller finishes with finish_text(). */
static FILE *start_text(const char *path, char *tmp, size_t tmp_size, jc_err *err) {
  snprintf(tmp, tmp_size, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f) jc_fail(err, JC_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
  return f;
}

/* Close f and rename tmp to path if every write succeeded; remove tmp otherwise. */
static jc_code finish_text(FILE *f, const char *tmp, const char *path, jc_err *err) {
  int bad = ferror(f);
  if (fclose(f) != 0) bad = 1;
  if (bad) {
    remove(tmp);
    return jc_fail(err, JC_ERR_IO, "%s: write failed (disk full?)", path);
  }
  if (rename(tmp, path) != 0) {
    jc_fail(err, JC_ERR_IO, "%s: cannot rename from %s: %s", path, tmp, strerror(errno));
    remove(tmp);
    return JC_ERR_IO;
  }
  return JC_OK;
}

static jc_code write_csv(const char *path, const roc_entry *e, int n_entries, jc_err *err) {
  char tmp[H5IO_PATH_MAX + 8];
  FILE *f = start_text(path, tmp, sizeof tmp, err);
  if (!f) return err->code;
  fputs("curve,threshold,eps_s,eps_b,rejection,auc\n", f);
  for (int k = 0; k < n_entries; k++) {
    const roc_curve *c = e[k].thin ? e[k].thin : e[k].curve;
    for (size_t p = 0; p < c->n_points; p++) {
      put_str(f, e[k].name, 0);
      fputc(',', f);
      put_num(f, e[k].sign * c->threshold[p], 0, "%.9g");
      fprintf(f, ",%.17g,%.17g,", c->eps_s[p], c->eps_b[p]);
      put_num(f, c->eps_b[p] > 0 ? 1.0 / c->eps_b[p] : INFINITY, 0, "%.17g");
      fprintf(f, ",%.17g\n", c->auc);
    }
  }
  return finish_text(f, tmp, path, err);
}

static jc_code write_json(const char *path, const roc_entry *e, int n_entries, const double *eps, size_t n_eps,
                          jc_err *err) {
  char tmp[H5IO_PATH_MAX + 8];
  FILE *f = start_text(path, tmp, sizeof tmp, err);
  if (!f) return err->code;
  fprintf(f, "{\n  \"format\": \"jetcnn-roc-1\",\n  \"curves\": [");
  for (int k = 0; k < n_entries; k++) {
    const roc_curve *c = e[k].curve;
    fprintf(f, "%s\n    {\"name\": ", k ? "," : "");
    put_str(f, e[k].name, 1);
    fputs(", \"source\": ", f);
    put_str(f, e[k].source, 1);
    fprintf(f, ", \"kind\": \"%s\", \"cut\": \"%s\",\n", e[k].kind, e[k].cut);
    fprintf(f, "     \"n_jets\": %zu, \"n_signal\": %llu, \"n_background\": %llu, \"n_points\": %zu,\n", e[k].n,
            (unsigned long long)c->n_signal, (unsigned long long)c->n_background, c->n_points);
    fprintf(f, "     \"auc\": %.17g, \"auc_err\": ", c->auc);
    put_num(f, e[k].boot ? e[k].boot->auc_std : NAN, 1, "%.6g");
    fputs(", \"accuracy\": ", f);
    put_num(f, e[k].is_probability ? roc_accuracy(e[k].score, e[k].label, e[k].n, 0.5) : NAN, 1, "%.17g");
    fprintf(f, ", \"bootstrap_replicas\": %zu,\n     \"working_points\": [", e[k].boot ? e[k].boot->n_replicas : 0);
    for (size_t w = 0; w < n_eps; w++) {
      double eb = roc_eps_b_at(c, eps[w]);
      fprintf(f, "%s\n       {\"eps_s\": %.10g, \"eps_b\": %.17g, \"rejection\": ", w ? "," : "", eps[w], eb);
      put_num(f, eb > 0 ? 1.0 / eb : INFINITY, 1, "%.17g");
      fputs(", \"rejection_err\": ", f);
      put_num(f, e[k].boot ? e[k].boot->rejection_std[w] : NAN, 1, "%.6g");
      fputs(", \"rejection_err_binomial\": ", f);
      put_num(f, roc_rejection_binomial_err(eb, c->n_background), 1, "%.6g");
      fputs(", \"threshold\": ", f);
      put_num(f, e[k].sign * roc_threshold_at(c, eps[w]), 1, "%.9g");
      fputc('}', f);
    }
    fputs("]}", f);
  }
  fputs("\n  ]\n}\n", f);
  return finish_text(f, tmp, path, err);
}

/* "512.3 +- 21.0", or "inf" when no background jet passes; "-" for a missing error. */
static void format_value(char *out, size_t size, double value, double error, const char *fmt) {
  char v[32] = "inf", e[32] = "";
  if (isfinite(value)) snprintf(v, sizeof v, fmt, value);
  if (isfinite(value) && isfinite(error)) snprintf(e, sizeof e, error >= 10 ? " +- %.0f" : " +- %.2g", error);
  snprintf(out, size, "%s%s", v, e);
}

static void print_table(MPI_Comm comm, const roc_entry *e, int n_entries, const double *eps, size_t n_eps) {
  cli_printf(comm, "%-28s %9s %9s  %-18s", "curve", "top", "QCD", "AUC");
  for (size_t w = 0; w < n_eps; w++) {
    char head[32];
    snprintf(head, sizeof head, "1/eB @ eS=%g", eps[w]);
    cli_printf(comm, " %-20s", head);
  }
  cli_printf(comm, " %s\n", "acc@0.5");
  for (int k = 0; k < n_entries; k++) {
    const roc_curve *c = e[k].curve;
    char cell[64];
    format_value(cell, sizeof cell, c->auc, e[k].boot ? e[k].boot->auc_std : NAN, "%.4f");
    cli_printf(comm, "%-28s %9llu %9llu  %-18s", e[k].name, (unsigned long long)c->n_signal,
               (unsigned long long)c->n_background, cell);
    for (size_t w = 0; w < n_eps; w++) {
      double err = e[k].boot ? e[k].boot->rejection_std[w] : roc_rejection_binomial_err(roc_eps_b_at(c, eps[w]), c->n_background);
      format_value(cell, sizeof cell, roc_rejection_at(c, eps[w]), err, "%.4g");
      cli_printf(comm, " %-20s", cell);
    }
    if (e[k].is_probability) cli_printf(comm, " %.4f\n", roc_accuracy(e[k].score, e[k].label, e[k].n, 0.5));
    else cli_printf(comm, " %s\n", "-");
  }
  cli_printf(comm, "(+- : std. dev. over bootstrap replicas%s; inf: no QCD jet passes)\n",
             e[0].boot ? "" : " unavailable, binomial shown");
}

/* ---- the command ------------------------------------------------------------------------- */

typedef struct {
  const char *files[CLI_MAX_VALUES];
  int n_files;
  const char *labels[CLI_MAX_VALUES];
  int n_labels;
  const char *csv, *json;
  double eps[MAX_EPS];
  size_t n_eps;
  long max_points, n_boot, seed, like_bins;
  const char *observables[CLI_MAX_VALUES];
  int n_observables;
  int has_window, has_mass_window, likelihood;
  double window[2], mass_window[2];
} roc_args;

/* Add a baseline entry scored by a new array x (ownership moves to the entry). */
static roc_entry *add_entry(roc_entry *entries, int *n_entries, const char *source, const char *kind,
                            float *x, const int32_t *label, size_t n) {
  roc_entry *e = &entries[(*n_entries)++];
  memset(e, 0, sizeof *e);
  e->source = source;
  e->kind = kind;
  e->cut = "score >= threshold";
  e->sign = 1.0;
  e->score = x;
  e->label = label;
  e->n = n;
  return e;
}

/* The baselines on the jets of the first file. */
static jc_code add_baselines(const roc_args *a, hid_t file, const scores_file *jets, roc_entry *entries,
                             int *n_entries, jc_err *err) {
  const char *path = jets->path;
  size_t n = jets->n;
  float *mass_cut = NULL;
  if (a->has_mass_window) {
    mass_cut = read_observable(file, path, "/jet_mass", n, err);
    if (!mass_cut) return jc_prefix(err, "--mass-window: ");
  }
  for (int o = 0; o < a->n_observables; o++) {
    const char *name = a->observables[o];
    int low_is_top = 0;
    float *x = observable_values(file, path, name, n, &low_is_top, err);
    if (!x) {
      free(mass_cut);
      return jc_prefix(err, "--observable %s: ", name);
    }
    roc_entry *e = add_entry(entries, n_entries, path, a->has_window ? "window" : "observable", x, jets->label, n);
    if (a->has_window) {
      snprintf(e->name, sizeof e->name, "%s[%g:%g]", name, a->window[0], a->window[1]);
      e->cut = "observable inside the window (score 1) or not (score 0)";
      for (size_t i = 0; i < n; i++) x[i] = (x[i] >= a->window[0] && x[i] <= a->window[1]) ? 1.0f : 0.0f;
    } else {
      snprintf(e->name, sizeof e->name, "%s", name);
      e->cut = low_is_top ? "observable <= threshold" : "observable >= threshold";
      if (low_is_top) {
        e->sign = -1.0;
        for (size_t i = 0; i < n; i++) x[i] = -x[i];
      }
    }
    if (mass_cut) {
      size_t len = strlen(e->name);
      snprintf(e->name + len, sizeof e->name - len, " & mass[%g:%g]", a->mass_window[0], a->mass_window[1]);
      for (size_t i = 0; i < n; i++)
        if (!(mass_cut[i] >= a->mass_window[0] && mass_cut[i] <= a->mass_window[1])) x[i] = -INFINITY;
    }
  }
  free(mass_cut);
  if (a->likelihood) {
    int low = 0;
    float *mass = observable_values(file, path, "jet_mass", n, &low, err);
    float *tau32 = mass ? observable_values(file, path, "tau32", n, &low, err) : NULL;
    float *x = NULL;
    jc_code rc = tau32 ? likelihood_scores(mass, tau32, jets->label, n, (int)a->like_bins, path, &x, err) : err->code;
    free(mass);
    free(tau32);
    if (rc != JC_OK) return jc_prefix(err, "--likelihood: ");
    roc_entry *e = add_entry(entries, n_entries, path, "likelihood", x, jets->label, n);
    snprintf(e->name, sizeof e->name, "likelihood(mass,tau32)");
    e->cut = "p_top / (p_top + p_qcd) of the (mass, tau32) bin >= threshold";
  }
  return JC_OK;
}

static jc_code parse_args(int argc, char **argv, MPI_Comm comm, roc_args *a, int *help, jc_err *err) {
  cli_opt opts[N_OPTS] = {
      [OPT_CSV] = {"csv", 1, "FILE", "write every curve (thinned) as CSV: curve,threshold,eps_s,eps_b,rejection,auc"},
      [OPT_JSON] = {"json", 1, "FILE", "write AUC, accuracy, working points and uncertainties of every curve as JSON"},
      [OPT_EPS] = {"eps-s", 1, "LIST", "signal efficiencies of the working points, comma-separated (default 0.3,0.5)"},
      [OPT_MAXPTS] = {"max-points", 1, "N", "thin each CSV curve to at most N points, keeping its shape (default 2000; 0 = all)"},
      [OPT_BOOT] = {"bootstrap", 1, "N", "bootstrap replicas for the uncertainties (default 100; 0 = binomial error only)"},
      [OPT_SEED] = {"seed", 1, "N", "seed of the bootstrap (default 1)"},
      [OPT_OBS] = {"observable", 1, "NAME", "baseline on the first file's jets: jet_mass, tau32, tau21, any 1-D dataset; repeatable"},
      [OPT_WINDOW] = {"window", 1, "LO:HI", "with one --observable: the baseline is the window cut LO <= x <= HI (one working point)"},
      [OPT_MASSWIN] = {"mass-window", 1, "LO:HI", "select only jets with LO <= jet_mass <= HI in the --observable baselines"},
      [OPT_LIKE] = {"likelihood", 0, NULL, "add the likelihood ratio of (jet_mass, tau32) from 2-D histograms (two folds)"},
      [OPT_LIKEBINS] = {"likelihood-bins", 1, "N", "bins per variable of the likelihood, equal-population (default 20)"},
      [OPT_LABEL] = {"label", 1, "NAME", "name of the curve of each file, in order (default: the file path); repeatable"},
  };
  memset(a, 0, sizeof *a);
  JC_TRY(cli_parse(comm, argc, argv, opts, N_OPTS, a->files, 1, CLI_MAX_VALUES, &a->n_files, help, err));
  if (*help) {
    cli_print_help(comm, USAGE, DESCRIPTION, opts, N_OPTS);
    return JC_OK;
  }
  a->csv = cli_value(opts, N_OPTS, "csv");
  a->json = cli_value(opts, N_OPTS, "json");
  a->eps[0] = 0.3;
  a->eps[1] = 0.5;
  a->n_eps = 2;
  const char *v;
  if ((v = cli_value(opts, N_OPTS, "eps-s"))) JC_TRY(parse_eps(v, a->eps, &a->n_eps, err));
  a->max_points = 2000;
  if ((v = cli_value(opts, N_OPTS, "max-points"))) JC_TRY(cli_long("max-points", v, 0, 100000000, &a->max_points, err));
  if (a->max_points > 0 && a->max_points < 16)
    return jc_fail(err, JC_ERR_USAGE, "--max-points: %ld is too few to keep the shape (0 or >= 16)", a->max_points);
  a->n_boot = 100;
  if ((v = cli_value(opts, N_OPTS, "bootstrap"))) JC_TRY(cli_long("bootstrap", v, 0, 100000, &a->n_boot, err));
  if (a->n_boot == 1) return jc_fail(err, JC_ERR_USAGE, "--bootstrap: use 0 (none) or at least 2 replicas");
  a->seed = 1;
  if ((v = cli_value(opts, N_OPTS, "seed"))) JC_TRY(cli_long("seed", v, 0, 2147483647L, &a->seed, err));
  a->n_observables = opts[OPT_OBS].count;
  for (int i = 0; i < a->n_observables; i++) a->observables[i] = opts[OPT_OBS].values[i];
  if ((v = cli_value(opts, N_OPTS, "window"))) {
    if (a->n_observables != 1) return jc_fail(err, JC_ERR_USAGE, "--window needs exactly one --observable");
    JC_TRY(parse_range("window", v, a->window, err));
    a->has_window = 1;
  }
  if ((v = cli_value(opts, N_OPTS, "mass-window"))) {
    if (a->n_observables == 0) return jc_fail(err, JC_ERR_USAGE, "--mass-window needs an --observable");
    JC_TRY(parse_range("mass-window", v, a->mass_window, err));
    a->has_mass_window = 1;
  }
  a->likelihood = cli_flag(opts, N_OPTS, "likelihood");
  a->like_bins = 20;
  if ((v = cli_value(opts, N_OPTS, "likelihood-bins"))) JC_TRY(cli_long("likelihood-bins", v, 2, 1000, &a->like_bins, err));
  a->n_labels = opts[OPT_LABEL].count;
  if (a->n_labels > a->n_files)
    return jc_fail(err, JC_ERR_USAGE, "--label given %d times for %d file(s)", a->n_labels, a->n_files);
  for (int i = 0; i < a->n_labels; i++) a->labels[i] = opts[OPT_LABEL].values[i];
  return JC_OK;
}

/* Everything rank 0 does. */
static jc_code run(const roc_args *a, MPI_Comm comm, jc_err *err) {
  jc_code rc = JC_OK;
  scores_file files[CLI_MAX_VALUES];
  roc_entry entries[MAX_CURVES];
  int n_read = 0, n_entries = 0;
  memset(files, 0, sizeof files);
  for (int f = 0; f < a->n_files && rc == JC_OK; f++) {
    hid_t file = H5I_INVALID_HID;
    rc = read_scores(a->files[f], &files[f], &file, err);
    if (rc != JC_OK) break;
    n_read++;
    roc_entry *e = add_entry(entries, &n_entries, a->files[f], "classifier", NULL, files[f].label, files[f].n);
    e->score = files[f].score; /* borrowed: freed with the file, see below */
    e->is_probability = 1;
    snprintf(e->name, sizeof e->name, "%s", f < a->n_labels ? a->labels[f] : a->files[f]);
    if (f == 0) rc = add_baselines(a, file, &files[0], entries, &n_entries, err);
    H5Fclose(file);
  }
  for (int k = 0; k < n_entries && rc == JC_OK; k++) {
    roc_entry *e = &entries[k];
    rc = roc_curve_compute(e->score, e->label, e->n, &e->curve, err);
    if (rc == JC_OK && a->max_points > 0 && e->curve->n_points > (size_t)a->max_points)
      rc = roc_curve_thin(e->curve, (size_t)a->max_points, &e->thin, err);
    if (rc == JC_OK && a->n_boot >= 2)
      rc = roc_bootstrap(e->score, e->label, e->n, a->eps, a->n_eps, (size_t)a->n_boot, (uint64_t)a->seed,
                         &e->boot, err);
    if (rc != JC_OK) jc_prefix(err, "%s: curve %s: ", e->source, e->name);
  }
  if (rc == JC_OK) print_table(comm, entries, n_entries, a->eps, a->n_eps);
  if (rc == JC_OK && a->csv) rc = write_csv(a->csv, entries, n_entries, err);
  if (rc == JC_OK && a->json) rc = write_json(a->json, entries, n_entries, a->eps, a->n_eps, err);
  if (rc == JC_OK && a->csv) cli_printf(comm, "curves: %s\n", a->csv);
  if (rc == JC_OK && a->json) cli_printf(comm, "metrics: %s\n", a->json);
  for (int k = 0; k < n_entries; k++) {
    if (strcmp(entries[k].kind, "classifier") != 0) free(entries[k].score);
    roc_curve_free(&entries[k].curve);
    roc_curve_free(&entries[k].thin);
    roc_bootstrap_free(&entries[k].boot);
  }
  for (int f = 0; f < n_read; f++) scores_file_free(&files[f]);
  return rc;
}

jc_code cli_roc(int argc, char **argv, MPI_Comm comm, jc_err *err) {
  roc_args a;
  int help = 0;
  jc_code rc = parse_args(argc, argv, comm, &a, &help, err);
  if (rc == JC_OK && !help && dist_rank(comm) == 0) rc = run(&a, comm, err);
  return dist_agree(comm, rc, err);
}
