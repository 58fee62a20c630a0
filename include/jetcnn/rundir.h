/* rundir.h - the run directory of a training run and what it decides (docs/formats.md):
 *
 *   DIR/config.cfg          the config actually used (--set overrides applied)
 *   DIR/metrics.csv         one row per epoch; the rows so far are also kept in every
 *                           checkpoint, so a resumed run drops rows written after it
 *   DIR/checkpoint.h5       the newest checkpoint (checkpoint.h), and the newest
 *                           keep_checkpoints of DIR/checkpoint-STEP.h5
 *
 * What the directory holds decides how a run starts: a new run, the exact resumption of an
 * unfinished run of the same config, nothing to do (a finished run, with --resume), or a
 * refusal that says what to do. Rank 0 reads and writes the files; every function is
 * collective on the communicator given to rundir_open() and returns the agreed result.
 */
#ifndef JETCNN_RUNDIR_H
#define JETCNN_RUNDIR_H

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>

#include "jetcnn/checkpoint.h"
#include "jetcnn/evaluate.h"
#include "jetcnn/steptime.h"

typedef enum {
  RUN_NEW,     /* start at epoch 0 (from the seed, or the weights of init_path) */
  RUN_RESUME,  /* continue exactly where DIR/checkpoint.h5 stopped */
  RUN_FINISHED /* DIR holds a finished run and resume was asked for: nothing to do */
} jc_run_start;

/* What a run directory is opened for. Strings are borrowed until rundir_close(). */
typedef struct {
  const char *dir;        /* the run directory (created with its parents if missing) */
  const char *init_path;  /* a new run starts from this checkpoint's weights, or NULL */
  int force;              /* start over even if DIR holds a checkpoint */
  int resume;             /* DIR must hold a checkpoint to continue */
  const char *train_path; /* the training file, its number of jets and steps per epoch: a */
  size_t train_jets;      /* resumed run must fit them */
  size_t steps_per_epoch;
} jc_run_request;

/* One epoch's numbers: a row of metrics.csv. */
typedef struct {
  int64_t epoch;             /* 1-based number of the epoch (= epochs completed) */
  int64_t step;              /* optimizer steps taken in all */
  double lr;                 /* learning rate of the epoch's last step */
  double train_loss, train_acc;
  int has_val;               /* 1: val holds the validation after this epoch */
  jc_val_stats val;
  double img_per_s, seconds; /* training speed and time of the epoch's steps */
  jc_steptime ranks;         /* which rank computed slowest, which waited longest (steptime.h) */
} jc_epoch_stats;

/* An open run directory. Callers read the first fields; the rest is the module's. */
typedef struct {
  jc_run_request req;
  jc_run_start how;
  jc_progress at;         /* where training starts: zero for a new run; from DIR/checkpoint.h5
                           * on resume (and for a finished run). at.metrics is always NULL */
  int64_t saved_step;     /* optimizer step of the newest checkpoint written or resumed from, -1: none */
  /* the state that checkpoints save, borrowed from rundir_open()'s caller until rundir_close(): */
  const jc_net *net;
  const float *params;
  const float *state;     /* the net's state (running statistics), n_state floats */
  const jc_optim *opt;
  MPI_Comm comm;
  int rank;
  char *log;              /* metrics.csv so far (header and one row per epoch), owned */
  FILE *log_file;         /* rank 0: DIR/metrics.csv, open for appending rows */
} jc_rundir;

/* Open req->dir to train net with params, state and opt, and decide how the run starts: on
 * RUN_RESUME (and RUN_FINISHED) params, state, opt and ->at come from DIR/checkpoint.h5; on
 * RUN_NEW params and state hold those of req->init_path when given and are left as they are
 * otherwise.
 * A checkpoint of another config is refused naming the changed keys, as is one of another
 * training file size; refusals are JC_ERR_USAGE. For a new or resumed run rank 0 then creates
 * DIR, writes DIR/config.cfg atomically and rewrites DIR/metrics.csv from the log so far;
 * a finished run writes nothing. net, params, state and opt stay borrowed until rundir_close().
 * On success *out is owned by the caller (rundir_close); on failure it is NULL. */
jc_code rundir_open(const jc_run_request *req, const jc_net *net, float *params, float *state, jc_optim *opt,
                    MPI_Comm comm, jc_rundir **out, jc_err *err);

/* Checkpoint mid-epoch: `epoch` epochs completed, `step` optimizer steps in all, of which
 * epoch_step in the epoch under way with training sums (loss, correct, samples). */
jc_code rundir_checkpoint(jc_rundir *rd, int64_t epoch, int64_t step, int64_t epoch_step, const double sums[3],
                          jc_err *err);

/* The end of an epoch: its row joins the log, the checkpoint (which keeps the log) is
 * written, then the row reaches DIR/metrics.csv. */
jc_code rundir_end_epoch(jc_rundir *rd, const jc_epoch_stats *st, jc_err *err);

/* Close DIR/metrics.csv and free; sets *rd = NULL; accepts NULL. */
void rundir_close(jc_rundir **rd);

#endif
