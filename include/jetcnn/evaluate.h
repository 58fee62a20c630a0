/* evaluate.h - forward-only passes over the jets of a file: the scoring that validation
 * (after every epoch) and prediction (`jetcnn predict`) share.
 *
 * Every rank scores its contiguous share of the file (plan_share() of its N jets), one
 * micro-batch per OpenMP thread; loss and accuracy are summed over all ranks.
 */
#ifndef JETCNN_EVALUATE_H
#define JETCNN_EVALUATE_H

#include <mpi.h>

#include "jetcnn/data.h"
#include "jetcnn/net.h"

/* The scores of the jets of one file. */
typedef struct {
  size_t lo, hi;     /* this rank's jets [lo, hi) */
  float *probs;      /* (hi - lo, n_classes): class probabilities of this rank's jets, owned */
  float *score;      /* hi - lo: probability of class 1 (top) of this rank's jets, owned */
  float *all_scores; /* with gather, on rank 0: the score of every jet of the file in file order,
                      * owned; otherwise NULL */
  double loss, acc;  /* mean loss and accuracy over every jet of the file (every rank's) */
} jc_eval;

/* Score every jet of d with (net, params), each rank its share; with gather, rank 0 also
 * collects every rank's scores. Collective on comm; returns the agreed result. *ev is owned
 * by the caller (eval_free), also after a failure. */
jc_code eval_scores(const jc_net *net, const float *params, jc_data *d, int gather, MPI_Comm comm, jc_eval *ev,
                    jc_err *err);
/* Free what eval_scores() allocated and zero *ev; accepts an already freed one. */
void eval_free(jc_eval *ev);

/* Validation after an epoch: mean loss, accuracy and, with two classes, the ROC AUC and
 * the background rejection 1/eps_B at eps_S = 0.3 (NaN otherwise, or when the file holds
 * one class only). */
typedef struct {
  double loss, acc, auc, rej30;
} jc_val_stats;

/* Validate (net, params) on d: every rank scores its share, rank 0 computes the ROC, every
 * rank returns the same *vs. Collective on comm. */
jc_code eval_validate(const jc_net *net, const float *params, jc_data *d, MPI_Comm comm, jc_val_stats *vs,
                      jc_err *err);

/* Forward jets [start, start+count) of d on all threads (micro-batches of the net's
 * micro_batch): probs (count, n_classes) and the sums of loss and of correct predictions.
 * Local (no MPI). Allocates and frees its own buffers. */
jc_code eval_range(const jc_net *net, const float *params, jc_data *d, size_t start, size_t count, float *probs,
                   double *loss_sum, long *n_correct, jc_err *err);

#endif
