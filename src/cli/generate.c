/* generate.c - `jetcnn generate`: synthetic top/QCD jets into one HDF5 file, in parallel.
 *
 * Every rank generates its own rows (whole chunks, jetfile_rank_rows) block by block and
 * writes them collectively; jet i depends only on (seed, i), so the file's datasets are the
 * same for any number of ranks and threads.
 */
#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "imageopts.h"
#include "lockstep.h"
#include "jetcnn/dist.h"
#include "jetcnn/generate.h"
#include "jetcnn/jetfile.h"

#define N_CONSTITUENTS 200 /* as in the Top Tagging reference dataset */

static const char *USAGE =
    "mpirun -np P jetcnn generate --jets N --out FILE [--seed S] [--signal-fraction F] [options]";
static const char *DESCRIPTION =
    "Generate N synthetic boosted jets, top-quark (label 1) and QCD (label 0) in random order,\n"
    "with pT 550-650 GeV and |eta| < 2 (model: docs/physics.md), and write their constituents,\n"
    "observables and images into FILE (layout: docs/formats.md). Same seed, same datasets\n"
    "whatever the number of ranks. Refuses to start without room for the file; SIGINT or\n"
    "SIGTERM stops every rank and removes FILE.tmp.";

typedef struct {
  unsigned long long n_jets;
  gen_config gen;
  jetimage_params image;
  int images;
  const char *out;
} generate_args;

static jc_code parse_args(const cli_opt *opts, int n_opts, generate_args *a, jc_err *err) {
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

static jc_code describe(jetfile_writer *w, const generate_args *a, jc_err *err) {
  JC_TRY(h5io_write_attr_str(w->file, "generator", "jetcnn generate " JETCNN_VERSION " (docs/physics.md)", err));
  JC_TRY(jetfile_attr_long(w->file, "seed", (long long)a->gen.seed, err));
  JC_TRY(jetfile_attr_double(w->file, "signal_fraction", a->gen.signal_fraction, err));
  return jetfile_describe_images(w, &a->image, err);
}

/* The rounds of generate + derive + collective write. */
static jc_code run(const generate_args *a, jetfile_writer *w, jetfile_block *b, MPI_Comm comm, jc_err *err) {
  hsize_t row0, n_rows;
  jetfile_rank_rows(a->n_jets, w->storage.chunk_rows, dist_rank(comm), dist_size(comm), &row0, &n_rows);
  hsize_t rounds = jetfile_rounds(a->n_jets, w->storage.chunk_rows, dist_size(comm));
  double t0 = MPI_Wtime();
  unsigned long long mine = 0, tops = 0, done = 0, next_report = a->n_jets / 10;
  double t_physics = 0.0;
  for (hsize_t round = 0; round < rounds; round++) {
    hsize_t start;
    int n = jetfile_round_rows(row0, n_rows, round, &start);
    double t1 = MPI_Wtime();
    if (!lockstep_signal_received()) { /* a stopping rank goes straight to the agreement */
      gen_jets(&a->gen, start, n, N_CONSTITUENTS, b->constituents, b->charged, b->labels);
      jetfile_derive(b, n, &a->image);
    }
    t_physics += MPI_Wtime() - t1;
    int sig = lockstep_stopped(comm);
    if (sig < 0) return jc_fail(err, JC_ERR_RUNTIME, "generate: MPI_Allreduce of the stop flag failed");
    if (sig > 0)
      return jc_fail(err, JC_ERR_RUNTIME, "generate: stopped by %s after %llu of %llu jets; %s was not written",
                     lockstep_signal_name(sig), done, a->n_jets, w->path);
    JC_TRY(jetfile_write_block(w, start, n, b, err));
    mine += (unsigned long long)n;
    for (int i = 0; i < n; i++) tops += (unsigned long long)b->labels[i];
    if (MPI_Allreduce(&mine, &done, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, comm) != MPI_SUCCESS)
      return jc_fail(err, JC_ERR_RUNTIME, "generate: MPI_Allreduce of progress failed");
    if (done >= next_report && done < a->n_jets) {
      imageopts_progress(comm, "generated", done, a->n_jets, MPI_Wtime() - t0);
      next_report = done + a->n_jets / 10;
    }
  }
  unsigned long long all_tops = 0;
  if (MPI_Allreduce(&tops, &all_tops, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, comm) != MPI_SUCCESS)
    return jc_fail(err, JC_ERR_RUNTIME, "generate: MPI_Allreduce of counts failed");
  double seconds = MPI_Wtime() - t0;
  imageopts_progress(comm, "generated", done, a->n_jets, seconds);
  cli_printf(comm, "%llu top + %llu QCD jets; %.0f jets/s per rank (rank 0: %.2f s physics + images, %.2f s writing)\n",
             all_tops, done - all_tops, seconds > 0.0 ? (double)done / seconds / dist_size(comm) : 0.0, t_physics,
             seconds - t_physics);
  return JC_OK;
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
  generate_args a;
  jc_code rc = cli_parse(comm, argc, argv, opts, n_opts, pos, 0, 0, &n_pos, &help, err);
  if (rc == JC_OK && !help) rc = parse_args(opts, n_opts, &a, err);
  if (rc == JC_OK && !help) rc = lockstep_catch_signals(err);
  JC_TRY(dist_agree(comm, rc, err)); /* cli_parse agreed on the command line; this on its values */
  if (help) {
    cli_print_help(comm, USAGE, DESCRIPTION, opts, n_opts);
    return JC_OK;
  }

  jetfile_layout layout = {N_CONSTITUENTS, 1, a.images ? a.image.pixels : 0, jetimage_n_channels(a.image.channels)};
  jetfile_block block;
  rc = dist_agree(comm, jetfile_block_alloc(&block, &layout, JETFILE_ROUND_ROWS, err), err);
  if (rc != JC_OK) {
    jetfile_block_free(&block);
    return rc;
  }
  jetfile_writer w;
  imageopts_keep_chunk_buffers();
  rc = jetfile_create(&w, a.out, a.n_jets, &layout, NULL, comm, err);
  if (rc == JC_OK) {
    char tmp[H5IO_PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", a.out); /* h5io_create_tmp's name */
    lockstep_remove_on_signal(tmp);
    rc = dist_agree(comm, describe(&w, &a, err), err);
    if (rc == JC_OK) {
      cli_printf(comm, "generating %llu jets (seed %llu, signal fraction %g) on %d rank(s) into %s (at most %.2f GB)\n",
                 a.n_jets, (unsigned long long)a.gen.seed, a.gen.signal_fraction, dist_size(comm), a.out,
                 1e-9 * (double)jetfile_estimate_bytes(&layout, a.n_jets));
      rc = run(&a, &w, &block, comm, err);
    }
    lockstep_remove_on_signal(NULL);
    if (rc == JC_OK) rc = jetfile_commit(&w, err);
    else jetfile_abandon(&w);
  }
  jetfile_block_free(&block);
  if (rc == JC_OK) cli_printf(comm, "wrote %s\n", a.out);
  return rc;
}
