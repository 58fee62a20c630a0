/* train.h - training (and prediction, which scores a file with a trained net).
 *
 * One training step, top to bottom (src/train.c, train_step()):
 *   prefetch_take()        this rank's blocks of the step (plan_rank_step()), read in the
 *                          background during the last step; the next step's read starts
 *   net_normalize_input()  per micro-batch, one micro-batch per OpenMP thread:
 *   train_micro()            net_forward(), loss_forward_backward(), net_backward():
 *                            gradients of each micro-batch into its own row
 *   dist_sum_exact()       sum of all rows of all ranks, exact (same bits for any P)
 *   optim_step()
 * Around the steps: validation (evaluate.h) and the run directory (rundir.h).
 */
#ifndef JETCNN_TRAIN_H
#define JETCNN_TRAIN_H

#include <mpi.h>
#include <signal.h>

#include "jetcnn/data.h"
#include "jetcnn/net.h"
#include "jetcnn/rundir.h"

/* What train_run() tells its caller while it runs (on rank 0 only; the library prints
 * nothing itself). Which member of the union is set depends on the kind. */
typedef enum {
  TRAIN_EV_WARNING,  /* .warning: something the user should fix; the run goes on */
  TRAIN_EV_START,    /* .start: the run (new or resumed) begins */
  TRAIN_EV_RESUME,   /* .resume: it continues from the run directory's checkpoint */
  TRAIN_EV_FINISHED, /* .finished_epochs: the run directory holds a finished run; nothing to do */
  TRAIN_EV_STEP,     /* .step: a step ended */
  TRAIN_EV_EPOCH,    /* .epoch: an epoch ended, was validated and checkpointed */
  TRAIN_EV_DONE      /* .done_seconds: every epoch is done */
} jc_train_event_kind;

typedef struct {
  jc_train_event_kind kind;
  const char *dir;         /* the run directory */
  long epochs;             /* epochs of the run */
  size_t steps_per_epoch;
  union {
    const char *warning;   /* the message, without "warning: " */
    struct {
      size_t train_jets, n_params;
      long batch;
      int ranks, threads;
    } start;
    struct {
      int64_t epoch;       /* 1-based epoch it resumes in */
      int64_t epoch_step;  /* steps of that epoch already done */
      int64_t step;        /* optimizer steps already taken */
      int init_ignored;    /* an --init checkpoint was given and is not used */
    } resume;
    int64_t finished_epochs;
    struct {
      int64_t epoch;       /* 1-based */
      size_t step;         /* steps of the epoch done (1-based number of the step that ended) */
      double loss, acc;    /* training loss and accuracy of the epoch so far */
      double seconds;      /* since the epoch (or its resumption) began */
      size_t jets;         /* jets trained in those seconds */
    } step;
    struct {
      const jc_epoch_stats *stats; /* the row of metrics.csv, borrowed for the call */
      double read, compute, reduce, update; /* rank 0's seconds in each part of the epoch's steps */
    } epoch;
    double done_seconds;
  };
} jc_train_event;

/* Receives train_run()'s events; ev is borrowed for the call. */
typedef void (*jc_train_report)(const jc_train_event *ev, void *arg);

typedef struct {
  const char *train_path; /* required */
  const char *val_path;   /* NULL: no validation */
  const char *out_dir;    /* run directory: config.cfg, metrics.csv, checkpoint.h5, checkpoint-STEP.h5 */
  const char *init_path;  /* checkpoint whose weights start a new run, or NULL */
  int force;              /* start over in a run directory that holds a checkpoint */
  int resume;             /* the run directory must hold a checkpoint to continue (a finished run: nothing to do) */
  const volatile sig_atomic_t *stop; /* set (to a signal number) by a signal handler, or NULL: checkpoint
                          * at the next step boundary and return JC_EXIT_REQUEUE */
  jc_train_report report; /* progress, warnings and results (rank 0), or NULL */
  void *report_arg;       /* passed to report */
} jc_train_opts;

/* Train net as its config says. Collective on comm; only rank 0 writes files and reports.
 * A run directory holding a checkpoint of the same config (except checkpoint_every and
 * keep_checkpoints) and an unfinished run is resumed exactly where it stopped; one of a
 * different config is refused naming the changed keys (JC_ERR_USAGE); force starts over.
 * Checkpoints at every epoch end and every hp.checkpoint_every steps. */
jc_code train_run(jc_net *net, const jc_train_opts *opts, MPI_Comm comm, jc_err *err);

/* The training work of one micro-batch: forward, loss on labels (n), backward.
 * grads += scale * sum_i dL_i/dparams (scale = 1 / global batch); returns the summed loss
 * and *hits the correct predictions. The same bits whichever thread runs it. */
double train_micro(const jc_net *net, const float *params, jc_net_ws *ws, const float *x, const int32_t *labels,
                   int n, float scale, jc_ctx ctx, float *grads, int *hits);

/* Write predictions for all jets of d into the scores file at out_path (format
 * "jetcnn-scores-1": /score, /label, /probs for K > 2, and d's pass-through datasets),
 * every rank scoring its own rows, rank 0 gathering and writing them. Returns accuracy and
 * mean loss in *acc, *loss. */
jc_code predict_run(const jc_net *net, const float *params, jc_data *d, const char *out_path, MPI_Comm comm,
                    double *acc, double *loss, jc_err *err);

#endif
