/* checkpoint.h - the model file RUNDIR/checkpoint.h5 (format "jetcnn-1", docs/formats.md):
 * the config text, weights per layer in PyTorch's order, optimizer state, epoch and step.
 * Written by rank 0 under a temporary name and renamed; read by every rank. */
#ifndef JETCNN_CHECKPOINT_H
#define JETCNN_CHECKPOINT_H

#include <mpi.h>
#include <stdint.h>

#include "jetcnn/net.h"
#include "jetcnn/optim.h"

#define CHECKPOINT_FORMAT "jetcnn-1"

/* Training progress stored with the weights. */
typedef struct {
  int64_t epoch;  /* epochs completed */
  int64_t step;   /* optimizer steps taken */
} jc_progress;

/* Rank 0 writes path atomically; every rank returns the agreed result. opt may be NULL. */
jc_code checkpoint_write(const char *path, const jc_net *net, const float *params, const jc_optim *opt,
                         jc_progress progress, MPI_Comm comm, jc_err *err);

/* The config text stored in the checkpoint at path (caller frees). Collective on comm. */
char *checkpoint_read_config(const char *path, MPI_Comm comm, jc_err *err);

/* Read the weights into params (n_params floats, layout of net), checking every shape;
 * if opt is non-NULL also the optimizer state, and progress if non-NULL. Collective. */
jc_code checkpoint_read(const char *path, const jc_net *net, float *params, jc_optim *opt, jc_progress *progress,
                        MPI_Comm comm, jc_err *err);

#endif
