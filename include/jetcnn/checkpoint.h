/* checkpoint.h - the model file RUNDIR/checkpoint.h5 (format "jetcnn-1", docs/formats.md):
 * the config text, weights per layer in PyTorch's order, optimizer state, and the training
 * progress needed to resume exactly (epoch, step, position in the epoch, metrics so far).
 * Written by rank 0 under a temporary name, fsynced and renamed; read by every rank.
 *
 * A run directory holds checkpoint.h5 (the newest) and the newest keep_checkpoints of
 * checkpoint-STEP.h5 (hard links to the same files, so no extra space). */
#ifndef JETCNN_CHECKPOINT_H
#define JETCNN_CHECKPOINT_H

#include <mpi.h>
#include <stdint.h>

#include "jetcnn/net.h"
#include "jetcnn/optim.h"

#define CHECKPOINT_FORMAT "jetcnn-1"

/* Training progress stored with the weights. With the weights, the optimizer state and the
 * config it determines the rest of the run exactly: the data order is a function of
 * (seed, epoch) and the dropout masks of (seed, step, sample). */
typedef struct {
  int64_t epoch;         /* epochs completed */
  int64_t step;          /* optimizer steps taken in all */
  int64_t epoch_step;    /* steps taken in the epoch after those (0 at an epoch end) */
  double epoch_sums[3];  /* training loss, correct predictions, samples summed over those steps */
  int64_t train_jets;    /* jets in the training file (a resumed run must see the same number) */
  char *metrics;         /* metrics.csv so far, header included; checkpoint_read allocates it
                          * (caller frees), checkpoint_write only reads it (may be NULL) */
} jc_progress;

/* Rank 0 writes path atomically (PATH.tmp, fsync, rename); every rank returns the agreed
 * result. params (n_params) and state (n_state; NULL when 0) go to /weights/layerNN, each
 * tensor under its kind's name (docs/formats.md); opt and progress may be NULL. Refuses
 * (JC_ERR_RUNTIME, naming the layer) to write non-finite weights or state, so a diverged run
 * never replaces a good checkpoint. */
jc_code checkpoint_write(const char *path, const jc_net *net, const float *params, const float *state,
                         const jc_optim *opt, const jc_progress *progress, MPI_Comm comm, jc_err *err);

/* Checkpoint of a run directory: writes DIR/checkpoint.h5 as checkpoint_write() does, then
 * (rank 0) links it as DIR/checkpoint-STEP.h5 (12 digits), removes all but the newest
 * `keep` of those and fsyncs the directory. Collective. */
jc_code checkpoint_save_run(const char *dir, long keep, const jc_net *net, const float *params, const float *state,
                            const jc_optim *opt, const jc_progress *progress, MPI_Comm comm, jc_err *err);

/* Number of DIR/checkpoint-STEP.h5 files (0 when DIR cannot be read). Local, no MPI. */
int checkpoint_history_count(const char *dir);

/* Rank 0 removes every DIR/checkpoint-STEP.h5 (a run started over with --force). */
void checkpoint_remove_history(const char *dir, MPI_Comm comm);

/* The config text stored in the checkpoint at path (caller frees). Collective on comm. */
char *checkpoint_read_config(const char *path, MPI_Comm comm, jc_err *err);

/* What differs between a checkpoint's config text and cfg, as "[net] epochs: 2 -> 3; ..."
 * (caller frees); "" when nothing that affects training differs (checkpoint_every and
 * keep_checkpoints may change between a run and its resumption). NULL on error. */
char *checkpoint_config_changes(const char *stored_text, const jc_config *cfg, jc_err *err);

/* Read the weights into params (n_params floats, layout of net), checking every shape;
 * if state is non-NULL also the net's state (n_state floats), if opt is non-NULL the
 * optimizer state, and progress if non-NULL (fields missing in older checkpoints read as
 * 0 / NULL). Collective. */
jc_code checkpoint_read(const char *path, const jc_net *net, float *params, float *state, jc_optim *opt,
                        jc_progress *progress, MPI_Comm comm, jc_err *err);

/* The model stored in the checkpoint at path, ready for inference (predict, export): the
 * inference net of its config (net_create_inference: batch norm folded with the stored running
 * statistics) and its parameters (net_fold_params). On success *net (net_free) and *params
 * ((*net)->n_params floats, free) are owned by the caller; on failure both are NULL.
 * Collective; every rank returns the agreed result. */
jc_code checkpoint_load_net(const char *path, MPI_Comm comm, jc_net **net, float **params, jc_err *err);

#endif
