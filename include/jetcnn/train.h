/* train.h - training and evaluation.
 *
 * One training step, top to bottom (src/train.c, train_step()):
 *   plan_step()            which blocks of jets make up this global batch (seed, epoch, step)
 *   data_read()            this rank reads its share of the blocks
 *   net_forward()          per micro-batch, one micro-batch per OpenMP thread
 *   loss_forward_backward()
 *   net_backward()         gradients of each micro-batch into its own row
 *   dist_sum_exact()       sum of all rows of all ranks, exact (same bits for any P)
 *   optim_step()
 */
#ifndef JETCNN_TRAIN_H
#define JETCNN_TRAIN_H

#include <mpi.h>
#include <signal.h>

#include "jetcnn/data.h"
#include "jetcnn/net.h"

typedef struct {
  const char *train_path; /* required */
  const char *val_path;   /* NULL: no validation */
  const char *out_dir;    /* run directory: config.cfg, metrics.csv, checkpoint.h5, checkpoint-STEP.h5 */
  const char *init_path;  /* checkpoint whose weights start a new run, or NULL */
  int force;              /* start over in a run directory that holds a checkpoint */
  int resume;             /* the run directory must hold a checkpoint to continue (a finished run: nothing to do) */
  int profile;            /* print where the step time goes (read, compute, allreduce, update) */
  const volatile sig_atomic_t *stop; /* set (to a signal number) by a signal handler, or NULL: checkpoint
                          * at the next step boundary and return JC_EXIT_REQUEUE */
} jc_train_opts;

/* Train net as its config says. Collective on comm; only rank 0 prints and writes.
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
