/* images.c - `jetcnn images`: constituents -> preprocessed jet images (DeepTop recipe).
 *
 * Reads the constituent layout (/constituents (N,M,4) E,px,py,pz, /labels (N), optional
 * /charged (N,M)), checks every block (finite momenta, 0/1 labels) before it is used, and
 * writes /images with /labels and the jet observables, each rank its own whole chunks.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "jetcnn/agree.h"
#include "jetcnn/atomic_file.h"
#include "imageopts.h"
#include "lockstep.h"
#include "jetcnn/dist.h"
#include "jetcnn/jetfile.h"

static const char *USAGE = "mpirun -np P jetcnn images --in FILE --out FILE [--pixels 40 --extent 1.6 --channels pt]";
static const char *DESCRIPTION =
    "Turn jets stored as constituents into training images: centre on the pT centroid, rotate\n"
    "the principal axis to vertical, flip the harder side to the upper right, pixelate (eta, phi)\n"
    "(docs/physics.md). Input: /constituents (N,M,4) float E,px,py,pz, zero-padded, /labels (N)\n"
    "0 = QCD, 1 = top, optional /charged (N,M) (needed for --channels color), format attribute\n"
    "jetcnn-jets-1 or jetcnn-constituents-1 (analysis/convert_toptagging.py writes the latter).\n"
    "SIGINT or SIGTERM stops every rank and removes the output's .tmp.";

static jc_code run(jetfile_reader *r, jetfile_writer *w, jetfile_block *b, const jetimage_params *image,
                   MPI_Comm comm, jc_err *err) {
  hsize_t row0, n_rows;
  jetfile_rank_rows(r->n_jets, w->storage.chunk_rows, dist_rank(comm), dist_size(comm), &row0, &n_rows);
  hsize_t rounds = jetfile_rounds(r->n_jets, w->storage.chunk_rows, dist_size(comm));
  double t0 = MPI_Wtime();
  unsigned long long mine = 0, done = 0, next_report = r->n_jets / 10;
  for (hsize_t round = 0; round < rounds; round++) {
    hsize_t start;
    int n = jetfile_round_rows(row0, n_rows, round, &start);
    int sig = lockstep_stopped(comm);
    if (sig < 0) return jc_fail(err, JC_ERR_RUNTIME, "images: MPI_Allreduce of the stop flag failed");
    if (sig > 0)
      return jc_fail(err, JC_ERR_RUNTIME, "images: stopped by %s after %llu of %llu jets; %s was not written",
                     lockstep_signal_name(sig), done, (unsigned long long)r->n_jets, w->path);
    jc_code rc = jetfile_read_block(r, start, n, b, err);
    if (rc == JC_OK) rc = jetfile_check_block(b, n, r->path, start, err);
    JC_TRY(dist_agree(comm, rc, err));
    jetfile_derive(b, n, image);
    JC_TRY(jetfile_write_block(w, start, n, b, err));
    mine += (unsigned long long)n;
    if (MPI_Allreduce(&mine, &done, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, comm) != MPI_SUCCESS)
      return jc_fail(err, JC_ERR_RUNTIME, "images: MPI_Allreduce of progress failed");
    if (done >= next_report && done < r->n_jets) {
      imageopts_progress(comm, "processed", done, r->n_jets, MPI_Wtime() - t0);
      next_report = done + r->n_jets / 10;
    }
  }
  imageopts_progress(comm, "processed", done, r->n_jets, MPI_Wtime() - t0);
  return JC_OK;
}

jc_code cli_images(int argc, char **argv, MPI_Comm comm, jc_err *err) {
  cli_opt opts[] = {
      {"in", 1, "FILE", "input HDF5 file with /constituents and /labels (required)", 0, {0}},
      {"out", 1, "FILE", "output HDF5 file (required; written as FILE.tmp, then renamed)", 0, {0}},
      {"keep-constituents", 0, NULL, "copy /constituents (and /charged) into the output too", 0, {0}},
      IMAGEOPTS_ROWS,
  };
  int n_opts = (int)(sizeof opts / sizeof opts[0]), n_pos = 0, help = 0;
  const char *pos[1];
  const char *in = NULL, *out = NULL;
  jetimage_params image;
  jc_code rc = cli_parse(comm, argc, argv, opts, n_opts, pos, 0, 0, &n_pos, &help, err);
  if (rc == JC_OK && !help) {
    in = cli_value(opts, n_opts, "in");
    out = cli_value(opts, n_opts, "out");
    if (!in) rc = jc_fail(err, JC_ERR_USAGE, "images: --in FILE is required");
    else if (!out) rc = jc_fail(err, JC_ERR_USAGE, "images: --out FILE is required");
    else rc = imageopts_parse(opts, n_opts, &image, err);
  }
  if (rc == JC_OK && !help) rc = atomic_file_refuse_input(out, (const char *const[]){in}, 1, err);
  if (rc == JC_OK && !help) rc = lockstep_catch_signals(err);
  JC_TRY(dist_agree(comm, rc, err)); /* cli_parse agreed on the command line; this on its values */
  if (help) {
    cli_print_help(comm, USAGE, DESCRIPTION, opts, n_opts);
    return JC_OK;
  }

  static const char *const INPUT[] = {"constituents", "charged", "labels", NULL};
  JC_TRY(agree_h5_input(comm, "--in", in, INPUT, AGREE_LABELS, err)); /* before the collective open */
  jetfile_reader r;
  JC_TRY(jetfile_open(&r, in, comm, err));
  if (image.channels == JETIMAGE_COLOR && !r.has_charged)
    rc = jc_fail(err, JC_ERR_DATA, "%s: --channels color needs a /charged (N,M) dataset, which this file lacks", in);
  int keep = cli_flag(opts, n_opts, "keep-constituents");
  jetfile_layout in_layout = {r.n_const, r.has_charged, image.pixels, jetimage_n_channels(image.channels)};
  jetfile_layout out_layout = {keep ? r.n_const : 0, keep && r.has_charged, image.pixels,
                               jetimage_n_channels(image.channels)};
  jetfile_block block;
  memset(&block, 0, sizeof block);
  if (rc == JC_OK) rc = jetfile_block_alloc(&block, &in_layout, JETFILE_ROUND_ROWS, err);
  rc = dist_agree(comm, rc, err);
  jetfile_writer w;
  imageopts_keep_chunk_buffers();
  if (rc == JC_OK) rc = jetfile_create(&w, out, r.n_jets, &out_layout, NULL, comm, err);
  if (rc == JC_OK) {
    char tmp[H5IO_PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", out); /* h5io_create_tmp's name */
    lockstep_remove_on_signal(tmp);
    rc = dist_agree(comm, jetfile_describe_images(&w, &image, err), err);
    if (rc == JC_OK) {
      cli_printf(comm, "%s: %llu jets, %d constituents each -> %s (%dx%d, %s)\n", in, (unsigned long long)r.n_jets,
                 r.n_const, out, image.pixels, image.pixels, jetimage_channels_name(image.channels));
      rc = run(&r, &w, &block, &image, comm, err);
    }
    lockstep_remove_on_signal(NULL);
    if (rc == JC_OK) rc = jetfile_commit(&w, err);
    else jetfile_abandon(&w);
  }
  jetfile_block_free(&block);
  jetfile_close(&r);
  if (rc == JC_OK) cli_printf(comm, "wrote %s\n", out);
  return rc;
}
