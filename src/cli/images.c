/* images.c - `jetcnn images`: constituents -> preprocessed jet images (DeepTop recipe), in
 * parallel (the work: produce_images(), include/jetcnn/produce.h). */
#include <stdio.h>

#include "cli.h"
#include "jetcnn/agree.h"
#include "jetcnn/atomic_file.h"
#include "imageopts.h"
#include "jetview.h"
#include "lockstep.h"
#include "jetcnn/dist.h"
#include "jetcnn/produce.h"

static const char *USAGE = "mpirun -np P jetcnn images --in FILE --out FILE [--pixels 40 --extent 1.6 --channels pt]";
static const char *DESCRIPTION =
    "Turn jets stored as constituents into training images: centre on the pT centroid, rotate\n"
    "the principal axis to vertical, flip the harder side to the upper right, pixelate (eta, phi)\n"
    "(docs/physics.md). Input: /constituents (N,M,4) float E,px,py,pz, zero-padded, /labels (N)\n"
    "0 = QCD, 1 = top, optional /charged (N,M) (needed for --channels color), format attribute\n"
    "jetcnn-jets-1 or jetcnn-constituents-1 (analysis/convert_toptagging.py writes the latter).\n"
    "SIGINT or SIGTERM stops every rank and removes the output's .tmp.";

/* What the user sees (produce_images's events, rank 0). */
static void show(const produce_event *ev, void *arg) {
  const produce_images_job *job = arg;
  switch (ev->kind) {
  case PRODUCE_EV_START:
    printf("%s: %llu jets, %d constituents each -> %s (%dx%d, %s)\n", job->in, ev->n_jets, ev->n_const, ev->out,
           job->image.pixels, job->image.pixels, jetimage_channels_name(job->image.channels));
    break;
  case PRODUCE_EV_PROGRESS:
  case PRODUCE_EV_DONE:
    jetview_progress("processed", ev);
    break;
  }
  fflush(stdout);
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
  produce_images_job job = {NULL, NULL, 0, {0}};
  jc_code rc = cli_parse(comm, argc, argv, opts, n_opts, pos, 0, 0, &n_pos, &help, err);
  if (rc == JC_OK && !help) {
    job.in = cli_value(opts, n_opts, "in");
    job.out = cli_value(opts, n_opts, "out");
    job.keep_constituents = cli_flag(opts, n_opts, "keep-constituents");
    if (!job.in) rc = jc_fail(err, JC_ERR_USAGE, "images: --in FILE is required");
    else if (!job.out) rc = jc_fail(err, JC_ERR_USAGE, "images: --out FILE is required");
    else rc = imageopts_parse(opts, n_opts, &job.image, err);
  }
  if (rc == JC_OK && !help) rc = atomic_file_refuse_input(job.out, (const char *const[]){job.in}, 1, err);
  if (rc == JC_OK && !help) rc = lockstep_catch_signals(err);
  JC_TRY(dist_agree(comm, rc, err)); /* cli_parse agreed on the command line; this on its values */
  if (help) {
    cli_print_help(comm, USAGE, DESCRIPTION, opts, n_opts);
    return JC_OK;
  }
  JC_TRY(agree_h5_input(comm, "--in", job.in, PRODUCE_IMAGES_INPUT, AGREE_LABELS, err)); /* before the collective open */
  produce_keep_chunk_buffers();
  produce_opts po = {.stop = lockstep_stop_flag(), .tmp_file = lockstep_remove_on_signal, .report = show,
                     .report_arg = &job};
  rc = produce_images(&job, &po, comm, err);
  if (rc == JC_OK) cli_printf(comm, "wrote %s\n", job.out);
  return rc;
}
