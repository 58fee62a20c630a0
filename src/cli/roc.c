/* roc.c - `jetcnn roc`: parse the options, run the report (src/roc_report.c) on rank 0,
 * print its table and write its files (docs/roc.md). Other ranks (under mpirun) only agree on
 * the result code. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "jetcnn/atomic_file.h"
#include "jetcnn/dist.h"
#include "jetcnn/roc_report.h"

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
    "With --ensemble the files are several trainings scoring the same jets (checked: labels and\n"
    "pass-through datasets): the mean and sample std of AUC and 1/eps_B over them, and the curve\n"
    "of their mean score. Prints a table; --csv and --json write the curves and numbers for\n"
    "analysis/plot_roc.py. See docs/roc.md.";

enum { OPT_CSV, OPT_JSON, OPT_EPS, OPT_MAXPTS, OPT_BOOT, OPT_SEED, OPT_OBS, OPT_WINDOW, OPT_MASSWIN,
       OPT_LIKE, OPT_LIKEBINS, OPT_LABEL, OPT_ENSEMBLE, OPT_SCULPT, OPT_JSDBINS, OPT_MASSBINS, OPT_PTBINS, OPT_BINNED,
       N_OPTS };

#define MAX_EDGES 1001

typedef struct {
  const char *files[CLI_MAX_VALUES];
  const char *labels[CLI_MAX_VALUES];
  const char *observables[CLI_MAX_VALUES];
  const char *csv, *json, *binned_csv;
  double jsd_edges[MAX_EDGES], mass_edges[MAX_EDGES], pt_edges[MAX_EDGES];
  roc_report_opts report;
} roc_args;

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
    if (*n_eps >= ROC_REPORT_MAX_EPS) return jc_fail(err, JC_ERR_USAGE, "--eps-s: at most %d working points", ROC_REPORT_MAX_EPS);
    JC_TRY(cli_double("eps-s", item, 1e-9, 1.0, &eps[(*n_eps)++], err));
  }
  return JC_OK;
}

/* Bin edges: "LO:HI:N" (N equal bins) or a comma-separated list, at least 2, increasing. */
static jc_code parse_edges(const char *opt, const char *text, double *edges, size_t *n, jc_err *err) {
  char buf[4096];
  if (strlen(text) >= sizeof buf) return jc_fail(err, JC_ERR_USAGE, "--%s: list too long", opt);
  snprintf(buf, sizeof buf, "%s", text);
  *n = 0;
  char *c1 = strchr(buf, ':');
  if (c1) {
    char *c2 = strchr(c1 + 1, ':');
    if (!c2 || strchr(buf, ','))
      return jc_fail(err, JC_ERR_USAGE, "--%s: '%s' is neither LO:HI:N nor a comma-separated list", opt, text);
    *c1 = *c2 = '\0';
    double lo, hi;
    long bins;
    JC_TRY(cli_double(opt, buf, -HUGE_VAL, HUGE_VAL, &lo, err));
    JC_TRY(cli_double(opt, c1 + 1, -HUGE_VAL, HUGE_VAL, &hi, err));
    JC_TRY(cli_long(opt, c2 + 1, 1, MAX_EDGES - 1, &bins, err));
    if (!(lo < hi)) return jc_fail(err, JC_ERR_USAGE, "--%s: LO must be below HI in '%s'", opt, text);
    for (long k = 0; k <= bins; k++) edges[k] = lo + (hi - lo) * (double)k / (double)bins;
    *n = (size_t)bins + 1;
    return JC_OK;
  }
  for (char *item = buf, *next; item; item = next) {
    next = strchr(item, ',');
    if (next) *next++ = '\0';
    if (*n >= MAX_EDGES) return jc_fail(err, JC_ERR_USAGE, "--%s: at most %d edges", opt, MAX_EDGES);
    JC_TRY(cli_double(opt, item, -HUGE_VAL, HUGE_VAL, &edges[*n], err));
    if (*n > 0 && !(edges[*n] > edges[*n - 1]))
      return jc_fail(err, JC_ERR_USAGE, "--%s: edges must increase ('%s')", opt, text);
    (*n)++;
  }
  if (*n < 2) return jc_fail(err, JC_ERR_USAGE, "--%s: at least 2 edges needed ('%s')", opt, text);
  return JC_OK;
}

/* "512.3 +- 21.0", or "inf" when no background jet passes; "-" for a missing error. */
static void format_value(char *out, size_t size, double value, double error, const char *fmt) {
  char v[32] = "inf", e[32] = "";
  if (isfinite(value)) snprintf(v, sizeof v, fmt, value);
  if (isfinite(value) && isfinite(error)) snprintf(e, sizeof e, error >= 10 ? " +- %.0f" : " +- %.2g", error);
  snprintf(out, size, "%s%s", v, e);
}

/* The row of the spread over the trainings of an ensemble. */
static void print_spread(MPI_Comm comm, const roc_report *r) {
  const roc_report_ensemble *e = r->ensemble;
  char cell[64], name[64];
  snprintf(name, sizeof name, "mean +- std of %d trainings", e->n_members);
  format_value(cell, sizeof cell, e->auc_mean, e->auc_std, "%.4f");
  cli_printf(comm, "%-28s %9s %9s  %-18s", name, "", "", cell);
  for (size_t w = 0; w < r->opts.n_eps; w++) {
    format_value(cell, sizeof cell, e->rejection_mean[w], e->rejection_std[w], "%.4g");
    cli_printf(comm, " %-20s", cell);
  }
  cli_printf(comm, " %s\n", "-");
}

static void print_table(MPI_Comm comm, const roc_report *r) {
  const double *eps = r->opts.eps;
  const size_t n_eps = r->opts.n_eps;
  cli_printf(comm, "%-28s %9s %9s  %-18s", "curve", "top", "QCD", "AUC");
  for (size_t w = 0; w < n_eps; w++) {
    char head[32];
    snprintf(head, sizeof head, "1/eB @ eS=%g", eps[w]);
    cli_printf(comm, " %-20s", head);
  }
  cli_printf(comm, " %s\n", "acc@0.5");
  for (int k = 0; k < r->n_curves; k++) {
    const roc_report_curve *e = &r->curves[k];
    const roc_curve *c = e->curve;
    char cell[64];
    format_value(cell, sizeof cell, c->auc, e->boot ? e->boot->auc_std : NAN, "%.4f");
    cli_printf(comm, "%-28s %9llu %9llu  %-18s", e->name, (unsigned long long)c->n_signal,
               (unsigned long long)c->n_background, cell);
    for (size_t w = 0; w < n_eps; w++) {
      double err = e->boot ? e->boot->rejection_std[w] : roc_rejection_binomial_err(roc_eps_b_at(c, eps[w]), c->n_background);
      format_value(cell, sizeof cell, roc_rejection_at(c, eps[w]), err, "%.4g");
      cli_printf(comm, " %-20s", cell);
    }
    if (e->is_probability) cli_printf(comm, " %.4f\n", e->accuracy);
    else cli_printf(comm, " %s\n", "-");
    if (r->ensemble && k == r->ensemble->curve) print_spread(comm, r);
  }
  cli_printf(comm, "(+- : std. dev. over bootstrap replicas%s%s; inf: no QCD jet passes)\n",
             r->curves[0].boot ? "" : " unavailable, binomial shown",
             r->ensemble ? "; in the mean row: sample std. dev. over the trainings" : "");
}

/* 1/JSD of each classifier curve at each working point. */
static void print_sculpting(MPI_Comm comm, const roc_report *r) {
  const roc_report_opts *o = &r->opts;
  cli_printf(comm, "\nQCD jet-mass sculpting: 1/JSD between passing and failing QCD jets (log2; %zu bins %g-%g GeV "
             "+ under/overflow)\n%-28s", o->n_jsd_edges - 1, o->jsd_edges[0], o->jsd_edges[o->n_jsd_edges - 1], "curve");
  for (size_t w = 0; w < o->n_eps; w++) {
    char head[32];
    snprintf(head, sizeof head, "1/JSD @ eS=%g", o->eps[w]);
    cli_printf(comm, " %-16s", head);
  }
  cli_printf(comm, "\n");
  for (int k = 0; k < r->n_curves; k++) {
    const roc_report_curve *c = &r->curves[k];
    if (!c->cuts) continue;
    cli_printf(comm, "%-28s", c->name);
    for (size_t w = 0; w < o->n_eps; w++) {
      double jsd = c->cuts[w].jsd;
      char cell[32];
      if (jsd > 0) snprintf(cell, sizeof cell, "%.4g", 1.0 / jsd);
      else snprintf(cell, sizeof cell, "%s", jsd == 0 ? "inf" : "-");
      cli_printf(comm, " %-16s", cell);
    }
    cli_printf(comm, "\n");
  }
}

/* ---- the command ------------------------------------------------------------------------- */

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
      [OPT_LIKE] = {"likelihood", 0, NULL, "add the likelihood ratio of (jet_mass, tau32): smoothed densities, two folds"},
      [OPT_LIKEBINS] = {"likelihood-bins", 1, "N", "grid cells per variable of the likelihood's densities (default 100)"},
      [OPT_LABEL] = {"label", 1, "NAME", "name of the curve of each file, in order (default: the file path); repeatable"},
      [OPT_ENSEMBLE] = {"ensemble", 0, NULL, "the files are trainings scoring the same jets: mean and spread, mean-score curve"},
      [OPT_SCULPT] = {"sculpting", 0, NULL, "per classifier and working point: QCD mass sculpting (1/JSD), binned efficiencies"},
      [OPT_JSDBINS] = {"jsd-bins", 1, "EDGES", "jet-mass bins of the sculpting histograms, LO:HI:N or a list (default 0:400:40)"},
      [OPT_MASSBINS] = {"mass-bins", 1, "EDGES", "jet-mass bins of the binned efficiencies (default 0:400:8)"},
      [OPT_PTBINS] = {"pt-bins", 1, "EDGES", "jet-pT bins of the binned efficiencies (default 550:650:5)"},
      [OPT_BINNED] = {"binned-csv", 1, "FILE", "with --sculpting: write the binned efficiencies as CSV"},
  };
  memset(a, 0, sizeof *a);
  roc_report_opts *o = &a->report;
  JC_TRY(cli_parse(comm, argc, argv, opts, N_OPTS, a->files, 1, CLI_MAX_VALUES, &o->n_files, help, err));
  if (*help) {
    cli_print_help(comm, USAGE, DESCRIPTION, opts, N_OPTS);
    return JC_OK;
  }
  o->files = a->files;
  a->csv = cli_value(opts, N_OPTS, "csv");
  a->json = cli_value(opts, N_OPTS, "json");
  o->eps[0] = 0.3;
  o->eps[1] = 0.5;
  o->n_eps = 2;
  const char *v;
  long x;
  if ((v = cli_value(opts, N_OPTS, "eps-s"))) JC_TRY(parse_eps(v, o->eps, &o->n_eps, err));
  o->max_points = 2000;
  if ((v = cli_value(opts, N_OPTS, "max-points"))) {
    JC_TRY(cli_long("max-points", v, 0, 100000000, &x, err));
    if (x > 0 && x < 16) return jc_fail(err, JC_ERR_USAGE, "--max-points: %ld is too few to keep the shape (0 or >= 16)", x);
    o->max_points = (size_t)x;
  }
  o->n_boot = 100;
  if ((v = cli_value(opts, N_OPTS, "bootstrap"))) {
    JC_TRY(cli_long("bootstrap", v, 0, 100000, &x, err));
    if (x == 1) return jc_fail(err, JC_ERR_USAGE, "--bootstrap: use 0 (none) or at least 2 replicas");
    o->n_boot = (size_t)x;
  }
  o->seed = 1;
  if ((v = cli_value(opts, N_OPTS, "seed"))) {
    JC_TRY(cli_long("seed", v, 0, 2147483647L, &x, err));
    o->seed = (uint64_t)x;
  }
  o->n_observables = opts[OPT_OBS].count;
  for (int i = 0; i < o->n_observables; i++) a->observables[i] = opts[OPT_OBS].values[i];
  o->observables = a->observables;
  if ((v = cli_value(opts, N_OPTS, "window"))) {
    if (o->n_observables != 1) return jc_fail(err, JC_ERR_USAGE, "--window needs exactly one --observable");
    JC_TRY(parse_range("window", v, o->window, err));
    o->has_window = 1;
  }
  if ((v = cli_value(opts, N_OPTS, "mass-window"))) {
    if (o->n_observables == 0) return jc_fail(err, JC_ERR_USAGE, "--mass-window needs an --observable");
    JC_TRY(parse_range("mass-window", v, o->mass_window, err));
    o->has_mass_window = 1;
  }
  o->likelihood = cli_flag(opts, N_OPTS, "likelihood");
  o->likelihood_bins = 100;
  if ((v = cli_value(opts, N_OPTS, "likelihood-bins"))) {
    JC_TRY(cli_long("likelihood-bins", v, 2, 4096, &x, err));
    o->likelihood_bins = (int)x;
  }
  o->n_labels = opts[OPT_LABEL].count;
  if (o->n_labels > o->n_files)
    return jc_fail(err, JC_ERR_USAGE, "--label given %d times for %d file(s)", o->n_labels, o->n_files);
  for (int i = 0; i < o->n_labels; i++) a->labels[i] = opts[OPT_LABEL].values[i];
  o->labels = a->labels;
  o->ensemble = cli_flag(opts, N_OPTS, "ensemble");
  o->sculpt = cli_flag(opts, N_OPTS, "sculpting");
  a->binned_csv = cli_value(opts, N_OPTS, "binned-csv");
  const char *edge_opts[3] = {"jsd-bins", "mass-bins", "pt-bins"}, *edge_defaults[3] = {"0:400:40", "0:400:8", "550:650:5"};
  double *edges[3] = {a->jsd_edges, a->mass_edges, a->pt_edges};
  size_t *n_edges[3] = {&o->n_jsd_edges, &o->n_mass_edges, &o->n_pt_edges};
  for (int k = 0; k < 3; k++) {
    v = cli_value(opts, N_OPTS, edge_opts[k]);
    if (v && !o->sculpt) return jc_fail(err, JC_ERR_USAGE, "--%s needs --sculpting", edge_opts[k]);
    JC_TRY(parse_edges(edge_opts[k], v ? v : edge_defaults[k], edges[k], n_edges[k], err));
  }
  o->jsd_edges = a->jsd_edges;
  o->mass_edges = a->mass_edges;
  o->pt_edges = a->pt_edges;
  if (a->binned_csv && !o->sculpt) return jc_fail(err, JC_ERR_USAGE, "--binned-csv needs --sculpting");
  if (o->ensemble && o->n_files < 2) return jc_fail(err, JC_ERR_USAGE, "--ensemble needs at least 2 scores files");
  for (int i = 0; o->ensemble && i < o->n_files; i++)
    for (int j = 0; j < i; j++)
      if (atomic_file_same(a->files[i], a->files[j]))
        return jc_fail(err, JC_ERR_USAGE, "--ensemble: %s and %s are the same file (one training counted twice)",
                       a->files[j], a->files[i]);
  return JC_OK;
}

/* No output may be a scores file, or another output. */
static jc_code check_outputs(const roc_args *a, jc_err *err) {
  const char *outputs[3] = {a->csv, a->json, a->binned_csv}, *names[3] = {"csv", "json", "binned-csv"};
  for (int k = 0; k < 3; k++) {
    if (!outputs[k]) continue;
    JC_TRY(atomic_file_refuse_input(outputs[k], a->files, (size_t)a->report.n_files, err));
    for (int j = 0; j < k; j++)
      if (outputs[j] && atomic_file_same(outputs[j], outputs[k]))
        return jc_fail(err, JC_ERR_USAGE, "--%s %s and --%s %s are the same file", names[j], outputs[j], names[k],
                       outputs[k]);
  }
  return JC_OK;
}

/* Everything rank 0 does. */
static jc_code run(const roc_args *a, MPI_Comm comm, jc_err *err) {
  roc_report *r = NULL;
  JC_TRY(check_outputs(a, err));
  JC_TRY(roc_report_run(&a->report, &r, err));
  print_table(comm, r);
  if (a->report.sculpt) print_sculpting(comm, r);
  jc_code rc = JC_OK;
  if (a->csv) rc = roc_report_write_csv(r, a->csv, err);
  if (rc == JC_OK && a->json) rc = roc_report_write_json(r, a->json, err);
  if (rc == JC_OK && a->binned_csv) rc = roc_report_write_binned_csv(r, a->binned_csv, err);
  if (rc == JC_OK && a->csv) cli_printf(comm, "curves: %s\n", a->csv);
  if (rc == JC_OK && a->json) cli_printf(comm, "metrics: %s\n", a->json);
  if (rc == JC_OK && a->binned_csv) cli_printf(comm, "binned efficiencies: %s\n", a->binned_csv);
  roc_report_free(&r);
  return rc;
}

jc_code cli_roc(int argc, char **argv, MPI_Comm comm, jc_err *err) {
  roc_args a;
  int help = 0;
  jc_code rc = parse_args(argc, argv, comm, &a, &help, err);
  if (rc == JC_OK && !help && dist_rank(comm) == 0) rc = run(&a, comm, err);
  return dist_agree(comm, rc, err);
}
