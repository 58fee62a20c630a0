/* plan.h - which jets make up each global batch, and which of them each rank reads: pure
 * arithmetic, a function of (seed, epoch, step) and of the file's chunking, never of the
 * number of ranks or threads (tests/test_plan.c checks it for every rank count).
 *
 * The file is cut into blocks of micro_batch consecutive jets (the last one may be short).
 * Blocks are grouped by the HDF5 chunk they lie in. Every epoch (shuffle = 1) permutes the
 * chunk groups, then permutes the blocks inside each window of `window_chunks` consecutive
 * groups: a rank touches each chunk about once per epoch (decompressed once, kept in its
 * chunk cache, which holds a window) while batches mix jets from the whole window. Each
 * global batch is batch/micro_batch consecutive blocks of that order, and rank r of P takes
 * a contiguous share of a batch's blocks.
 */
#ifndef JETCNN_PLAN_H
#define JETCNN_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "jetcnn/error.h"

typedef struct {
  size_t n_samples, micro, n_blocks, blocks_per_batch, n_steps;
  size_t blocks_per_chunk; /* blocks in one chunk group */
  size_t window_chunks;    /* chunk groups shuffled together */
  size_t *order;           /* block permutation of the current epoch, owned */
  size_t *groups;          /* scratch for the chunk-group permutation, owned */
} jc_plan;

/* Plan for n_samples jets stored in chunks of chunk_rows; window_chunks >= 1. *out owned
 * by the caller (plan_free). */
jc_code plan_create(size_t n_samples, size_t micro_batch, size_t batch, size_t chunk_rows, size_t window_chunks,
                    jc_plan **out, jc_err *err);
/* Free *p and set it to NULL; accepts NULL. */
void plan_free(jc_plan **p);
/* Set the block order for epoch (identity when shuffle == 0). */
void plan_epoch(jc_plan *p, uint64_t seed, int64_t epoch, int shuffle);

/* One rank's part of one global step. */
typedef struct {
  const size_t *blocks; /* this rank's n_local block numbers, borrowed from p->order (valid
                         * until the next plan_epoch) */
  int n_local;
  size_t first_slot;    /* position of blocks[0] among the global batch's blocks (its micro-batch
                         * number within the step, for per-micro-batch statistics) */
  size_t n_global;      /* blocks in the whole global batch (every rank's) */
  size_t batch_jets;    /* jets in the whole global batch: the gradient is their mean */
} jc_step_share;

/* Rank `rank` of `size`'s blocks of step `step` of the current epoch. */
jc_step_share plan_rank_step(const jc_plan *p, size_t step, int rank, int size);
/* The most blocks one of `size` ranks gets in a step (input buffers are sized for it). */
size_t plan_max_share(const jc_plan *p, int size);
/* First jet and number of jets of block b. */
void plan_block(const jc_plan *p, size_t b, size_t *start, size_t *len);

/* The pieces plan_rank_step() is made of. Blocks of global step `step` in this epoch:
 * order[*first .. *first + *count). */
void plan_step(const jc_plan *p, size_t step, size_t *first, size_t *count);
/* Rank's contiguous share [*lo, *hi) of `count` items split over `size` ranks (also how
 * evaluation splits the jets of a file). */
void plan_share(size_t count, int rank, int size, size_t *lo, size_t *hi);

#endif
