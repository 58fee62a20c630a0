/* args.c - command-line parsing shared by the subcommands (see cli.h). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "jetcnn/agree.h"
#include "jetcnn/dist.h"

static cli_opt *find_opt(cli_opt *opts, int n_opts, const char *name, size_t len) {
  for (int i = 0; i < n_opts; i++)
    if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0) return &opts[i];
  return NULL;
}

/* This rank's parse of argv (see cli_parse). */
static jc_code parse_local(int argc, char **argv, cli_opt *opts, int n_opts, const char **positional, int min_pos,
                           int max_pos, int *n_pos, int *help, jc_err *err) {
  const char *cmd = argv[0];
  *n_pos = 0;
  *help = 0;
  for (int i = 0; i < n_opts; i++) opts[i].count = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      *help = 1;
      return JC_OK;
    }
    if (strncmp(a, "--", 2) == 0 && a[2]) {
      const char *name = a + 2, *eq = strchr(name, '=');
      size_t len = eq ? (size_t)(eq - name) : strlen(name);
      cli_opt *o = find_opt(opts, n_opts, name, len);
      if (!o) return jc_fail(err, JC_ERR_USAGE, "%s: unknown option '%s' (see 'jetcnn %s --help')", cmd, a, cmd);
      const char *value = NULL;
      if (o->takes_value) {
        if (eq) value = eq + 1;
        else if (i + 1 < argc) value = argv[++i];
        else return jc_fail(err, JC_ERR_USAGE, "%s: option --%s needs a value %s", cmd, o->name, o->metavar ? o->metavar : "");
      } else if (eq) {
        return jc_fail(err, JC_ERR_USAGE, "%s: option --%s takes no value", cmd, o->name);
      }
      if (o->count >= CLI_MAX_VALUES)
        return jc_fail(err, JC_ERR_USAGE, "%s: option --%s given too often", cmd, o->name);
      o->values[o->count++] = value;
      continue;
    }
    if (a[0] == '-' && a[1] && strcmp(a, "-") != 0)
      return jc_fail(err, JC_ERR_USAGE, "%s: unknown option '%s' (see 'jetcnn %s --help')", cmd, a, cmd);
    if (*n_pos >= max_pos)
      return jc_fail(err, JC_ERR_USAGE, "%s: unexpected argument '%s' (see 'jetcnn %s --help')", cmd, a, cmd);
    positional[(*n_pos)++] = a;
  }
  if (*n_pos < min_pos)
    return jc_fail(err, JC_ERR_USAGE, "%s: missing argument (see 'jetcnn %s --help')", cmd, cmd);
  return JC_OK;
}

/* Values of options whose metavar is one of these are paths: they may differ between ranks
 * (node-local copies); the inputs they name are compared by content (agree.h). */
static int is_path(const cli_opt *o) {
  static const char *const PATHS[] = {"FILE", "DIR", "CHECKPOINT", NULL};
  for (int i = 0; o->metavar && PATHS[i]; i++)
    if (strcmp(o->metavar, PATHS[i]) == 0) return 1;
  return 0;
}

/* The parse as lines every rank must share: the command, --help, the number of positional
 * arguments (paths), each option given with its value (paths only as present). Caller frees. */
static char *parse_signature(int argc, char **argv, const cli_opt *opts, int n_opts, int n_pos, int help,
                             jc_err *err) {
  size_t cap = 64;
  for (int i = 0; i < argc; i++) cap += strlen(argv[i]) + 24;
  char *sig = jc_malloc(cap, err);
  if (!sig) return NULL;
  size_t len = (size_t)snprintf(sig, cap, "%s\n%s%d argument(s)\n", argv[0], help ? "--help\n" : "", n_pos);
  for (int i = 0; i < n_opts; i++)
    for (int k = 0; k < opts[i].count && len < cap; k++) {
      const char *v = opts[i].values[k];
      len += (size_t)snprintf(sig + len, cap - len, "--%s%s%s\n", opts[i].name, v ? " " : "",
                              !v ? "" : is_path(&opts[i]) ? "(a path)" : v);
    }
  return sig;
}

jc_code cli_parse(MPI_Comm comm, int argc, char **argv, cli_opt *opts, int n_opts, const char **positional,
                  int min_pos, int max_pos, int *n_pos, int *help, jc_err *err) {
  jc_code rc = parse_local(argc, argv, opts, n_opts, positional, min_pos, max_pos, n_pos, help, err);
  char *sig = rc == JC_OK ? parse_signature(argc, argv, opts, n_opts, *n_pos, *help, err) : NULL;
  if (rc == JC_OK && !sig) rc = err->code;
  rc = agree_text(comm, "the command line", sig ? sig : "", rc, JC_ERR_USAGE, err);
  free(sig);
  return rc;
}

const char *cli_value(const cli_opt *opts, int n_opts, const char *name) {
  for (int i = 0; i < n_opts; i++)
    if (strcmp(opts[i].name, name) == 0 && opts[i].count > 0) return opts[i].values[opts[i].count - 1];
  return NULL;
}

int cli_flag(const cli_opt *opts, int n_opts, const char *name) {
  for (int i = 0; i < n_opts; i++)
    if (strcmp(opts[i].name, name) == 0) return opts[i].count > 0;
  return 0;
}

jc_code cli_long(const char *opt, const char *text, long lo, long hi, long *out, jc_err *err) {
  char *end = NULL;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (errno || end == text || *end != '\0')
    return jc_fail(err, JC_ERR_USAGE, "--%s: '%s' is not an integer", opt, text);
  if (v < lo || v > hi)
    return jc_fail(err, JC_ERR_USAGE, "--%s: %ld is out of range [%ld, %ld]", opt, v, lo, hi);
  *out = v;
  return JC_OK;
}

jc_code cli_double(const char *opt, const char *text, double lo, double hi, double *out, jc_err *err) {
  char *end = NULL;
  errno = 0;
  double v = strtod(text, &end);
  if (errno || end == text || *end != '\0' || !isfinite(v))
    return jc_fail(err, JC_ERR_USAGE, "--%s: '%s' is not a number", opt, text);
  if (v < lo || v > hi)
    return jc_fail(err, JC_ERR_USAGE, "--%s: %g is out of range [%g, %g]", opt, v, lo, hi);
  *out = v;
  return JC_OK;
}

void cli_print_help(MPI_Comm comm, const char *usage, const char *description,
                    const cli_opt *opts, int n_opts) {
  if (dist_rank(comm) != 0) return;
  printf("usage: %s\n\n%s\n", usage, description);
  if (n_opts > 0) printf("\noptions:\n");
  for (int i = 0; i < n_opts; i++) {
    char left[64];
    snprintf(left, sizeof left, "--%s%s%s", opts[i].name, opts[i].takes_value ? " " : "",
             opts[i].takes_value && opts[i].metavar ? opts[i].metavar : "");
    printf("  %-24s %s\n", left, opts[i].help);
  }
  printf("  %-24s %s\n", "--help", "show this help and exit");
}

void cli_printf(MPI_Comm comm, const char *fmt, ...) {
  if (dist_rank(comm) != 0) return;
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
}
