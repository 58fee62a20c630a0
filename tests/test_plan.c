/* test_plan.c - the sample plan in one process: for every rank count P, the shares of all
 * ranks cover every jet of the epoch exactly once; the order depends on (seed, epoch) and
 * not on P; chunk groups stay within their shuffle window; plan_rank_step() gives each rank
 * exactly its share. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jetcnn/plan.h"

static int failures = 0;
#define CHECK(cond, ...)            \
  do {                              \
    if (!(cond)) {                  \
      printf("FAIL: " __VA_ARGS__); \
      printf("\n");                 \
      failures++;                   \
    }                               \
  } while (0)

static void check_case(size_t n, size_t micro, size_t batch, size_t chunk, size_t window) {
  jc_err err;
  jc_plan *p = NULL;
  if (plan_create(n, micro, batch, chunk, window, &p, &err) != JC_OK) {
    printf("FAIL: plan_create: %s\n", err.msg);
    failures++;
    return;
  }
  int *seen = calloc(n, sizeof *seen);
  size_t *first_order = malloc(p->n_blocks * sizeof *first_order);
  for (int64_t epoch = 0; epoch < 3; epoch++) {
    plan_epoch(p, 7, epoch, 1);
    if (epoch == 0) memcpy(first_order, p->order, p->n_blocks * sizeof *first_order);
    else if (p->n_blocks > 4)
      CHECK(memcmp(first_order, p->order, p->n_blocks * sizeof *first_order) != 0, "epoch %lld has epoch 0's order", (long long)epoch);
    /* Chunk groups: block b's window position is within window*blocks_per_chunk of its group's slot. */
    for (int P = 1; P <= 7; P++) {
      memset(seen, 0, n * sizeof *seen);
      for (size_t s = 0; s < p->n_steps; s++) {
        size_t first, count;
        plan_step(p, s, &first, &count);
        CHECK(count >= 1 && count <= p->blocks_per_batch, "step %zu has %zu blocks", s, count);
        size_t covered = 0;
        for (int r = 0; r < P; r++) {
          size_t lo, hi;
          plan_share(count, r, P, &lo, &hi);
          CHECK(lo == covered, "P=%d rank %d share starts at %zu, expected %zu", P, r, lo, covered);
          covered = hi;
          for (size_t k = lo; k < hi; k++) {
            size_t start, len;
            plan_block(p, p->order[first + k], &start, &len);
            for (size_t j = start; j < start + len; j++) seen[j]++;
          }
        }
        CHECK(covered == count, "P=%d step %zu: shares cover %zu of %zu blocks", P, s, covered, count);
        /* plan_rank_step: the same blocks, rank after rank, and the jets of the whole batch. */
        size_t batch_jets = 0, next = 0;
        for (size_t k = 0; k < count; k++) {
          size_t start, len;
          plan_block(p, p->order[first + k], &start, &len);
          batch_jets += len;
        }
        for (int r = 0; r < P; r++) {
          jc_step_share sh = plan_rank_step(p, s, r, P);
          CHECK(sh.n_global == count && sh.batch_jets == batch_jets, "P=%d rank %d step %zu: batch of %zu blocks, %zu "
                "jets; expected %zu, %zu", P, r, s, sh.n_global, sh.batch_jets, count, batch_jets);
          CHECK(sh.n_local >= 0 && (size_t)sh.n_local <= plan_max_share(p, P), "P=%d rank %d step %zu: %d blocks, more "
                "than plan_max_share %zu", P, r, s, sh.n_local, plan_max_share(p, P));
          for (int k = 0; k < sh.n_local; k++, next++)
            CHECK(next < count && sh.blocks[k] == p->order[first + next], "P=%d rank %d step %zu: block %d is not "
                  "the batch's block %zu", P, r, s, k, next);
        }
        CHECK(next == count, "P=%d step %zu: plan_rank_step gives %zu of %zu blocks", P, s, next, count);
      }
      for (size_t j = 0; j < n; j++) CHECK(seen[j] == 1, "P=%d epoch %lld: jet %zu read %d times", P, (long long)epoch, j, seen[j]);
    }
  }
  /* Same seed and epoch give the same order; another seed a different one. */
  plan_epoch(p, 7, 0, 1);
  CHECK(memcmp(first_order, p->order, p->n_blocks * sizeof *first_order) == 0, "order not reproducible");
  plan_epoch(p, 8, 0, 1);
  if (p->n_blocks > 4) CHECK(memcmp(first_order, p->order, p->n_blocks * sizeof *first_order) != 0, "seed ignored");
  /* Blocks of one chunk group lie close together in the order: within one window, which
   * spans at most window_chunks groups of blocks. */
  size_t wblocks = p->window_chunks * p->blocks_per_chunk;
  for (size_t i = 0; i < p->n_blocks; i++)
    for (size_t j = i + 1; j < p->n_blocks; j++)
      if (p->order[i] / p->blocks_per_chunk == p->order[j] / p->blocks_per_chunk)
        CHECK(j - i < wblocks, "blocks %zu and %zu of one chunk are %zu apart (window %zu blocks)", p->order[i],
              p->order[j], j - i, wblocks);
  plan_epoch(p, 7, 0, 0);
  for (size_t b = 0; b < p->n_blocks; b++) CHECK(p->order[b] == b, "shuffle = 0 is not file order");
  free(seen);
  free(first_order);
  plan_free(&p);
  CHECK(p == NULL, "plan_free did not clear the pointer");
}

int main(void) {
  check_case(1000, 16, 96, 256, 2);  /* short last block, P not dividing anything */
  check_case(1024, 32, 128, 256, 4);
  check_case(997, 7, 35, 1, 1);      /* unchunked file */
  check_case(50, 32, 64, 256, 8);    /* fewer jets than a batch */
  check_case(5000, 32, 512, 100, 3); /* chunk not a multiple of the micro-batch */
  printf("%s (%d failures)\n", failures ? "FAIL" : "ok", failures);
  return failures ? 1 : 0;
}
