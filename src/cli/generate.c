/* generate.c - `jetcnn generate`: synthetic top/QCD jets into one HDF5 file, in parallel
 * (the work: produce_generate(), include/jetcnn/produce.h). */
#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "imageopts.h"
#include "jetview.h"
#include "lockstep.h"
#include "jetcnn/dist.h"
#include "jetcnn/produce.h"

static const char *USAGE =
    "mpirun -np P jetcnn generate --jets N --out FILE [--seed S] [--signal-fraction F] [options]";
static const char *DESCRIPTION =
    "Generate N synthetic boosted jets, top-quark (label 1) and QCD (label 0) in random order,\n"
    "with pT 550-650 GeV and |eta| < 2 (model: docs/physics.md), and write their constituents,\n"
    "observables and images into FILE (layout: docs/formats.md). Same seed, same datasets\n"
    "whatever the number of ranks. Refuses to start without room for the file; SIGINT or\n"
    "SIGTERM stops every rank and removes FILE.tmp.";

static jc_code parse_args(const cli_opt *opts, int n_opts, produce_generate_job *a, jc_err *err) {
  const char *v;
  long jets, seed;
  if (!(v = cli_value(opts, n_opts, "jets"))) return jc_fail(err, JC_ERR_USAGE, "generate: --jets N is required");
  JC_TRY(cli_long("jets", v, 1, 2000000000L, &jets, err));
  a->n_jets = (unsigned long long)jets;
  if (!(a->out = cli_value(opts, n_opts, "out")))
    return jc_fail(err, JC_ERR_USAGE, "generate: --out FILE is required");
  seed = 1;
  if ((v = cli_value(opts, n_opts, "seed"))) JC_TRY(cli_long("seed", v, 0, INT64_MAX, &seed, err));
  a->gen.seed = (uint64_t)seed;
  a->gen.signal_fraction = 0.5;
  if ((v = cli_value(opts, n_opts, "signal-fraction")))
    JC_TRY(cli_double("signal-fraction", v, 0.0, 1.0, &a->gen.signal_fraction, err));
  a->images = !cli_flag(opts, n_opts, "no-images");
  return imageopts_parse(opts, n_opts, &a->image, err);
}

/* What the user sees (produce_generate's events, rank 0). */
static void show(const produce_event *ev, void *arg) {
  const produce_generate_job *a = arg;
  switch (ev->kind) {
  case PRODUCE_EV_START:
    printf("generating %llu jets (seed %llu, signal fraction %g) on %d rank(s) into %s (at most %.2f GB)\n", ev->n_jets,
           (unsigned long long)a->gen.seed, a->gen.signal_fraction, ev->ranks, ev->out, 1e-9 * ev->max_bytes);
    break;
  case PRODUCE_EV_PROGRESS:
    jetview_progress("generated", ev);
    break;
  case PRODUCE_EV_DONE:
    jetview_progress("generated", ev);
    printf("%llu top + %llu QCD jets; %.0f jets/s per rank (rank 0: %.2f s physics + images, %.2f s writing)\n",
           ev->tops, ev->done - ev->tops, ev->seconds > 0.0 ? (double)ev->done / ev->seconds / ev->ranks : 0.0,
           ev->make_seconds, ev->seconds - ev->make_seconds);
    break;
  }
  fflush(stdout);
}

jc_code cli_generate(int argc, char **argv, MPI_Comm comm, jc_err *err) {
  cli_opt opts[] = {
      {"jets", 1, "N", "number of jets to generate (required)", 0, {0}},
      {"out", 1, "FILE", "output HDF5 file (required; written as FILE.tmp, then renamed)", 0, {0}},
      {"seed", 1, "S", "random seed (default 1); jet i depends only on (S, i)", 0, {0}},
      {"signal-fraction", 1, "F", "probability that a jet is a top jet (default 0.5)", 0, {0}},
      {"no-images", 0, NULL, "write constituents and observables only, no /images", 0, {0}},
      IMAGEOPTS_ROWS,
  };
  int n_opts = (int)(sizeof opts / sizeof opts[0]), n_pos = 0, help = 0;
  const char *pos[1];
  produce_generate_job job;
  jc_code rc = cli_parse(comm, argc, argv, opts, n_opts, pos, 0, 0, &n_pos, &help, err);
  if (rc == JC_OK && !help) rc = parse_args(opts, n_opts, &job, err);
  if (rc == JC_OK && !help) rc = lockstep_catch_signals(err);
  JC_TRY(dist_agree(comm, rc, err)); /* cli_parse agreed on the command line; this on its values */
  if (help) {
    cli_print_help(comm, USAGE, DESCRIPTION, opts, n_opts);
    return JC_OK;
  }
  produce_keep_chunk_buffers();
  produce_opts po = {.stop = lockstep_stop_flag(), .tmp_file = lockstep_remove_on_signal, .report = show,
                     .report_arg = &job};
  rc = produce_generate(&job, &po, comm, err);
  if (rc == JC_OK) cli_printf(comm, "wrote %s\n", job.out);
  return rc;
}
