/* plan.c - the per-epoch sample plan (see plan.h). */
#include "jetcnn/plan.h"

#include <stdlib.h>

#include "jetcnn/rng.h"

jc_code plan_create(size_t n_samples, size_t micro_batch, size_t batch, size_t chunk_rows, size_t window_chunks,
                    jc_plan **out, jc_err *err) {
  jc_plan *p = jc_calloc(1, sizeof *p, err);
  if (!p) return JC_ERR_NOMEM;
  p->n_samples = n_samples;
  p->micro = micro_batch;
  p->blocks_per_chunk = chunk_rows > micro_batch ? chunk_rows / micro_batch : 1;
  p->window_chunks = window_chunks > 0 ? window_chunks : 1;
  p->n_blocks = (n_samples + micro_batch - 1) / micro_batch;
  p->blocks_per_batch = batch / micro_batch;
  p->n_steps = (p->n_blocks + p->blocks_per_batch - 1) / p->blocks_per_batch;
  p->order = jc_malloc(p->n_blocks * sizeof *p->order, err);
  p->groups = jc_malloc(p->n_blocks * sizeof *p->groups, err);
  if (!p->order || !p->groups) {
    plan_free(&p);
    return JC_ERR_NOMEM;
  }
  for (size_t b = 0; b < p->n_blocks; b++) p->order[b] = b;
  *out = p;
  return JC_OK;
}

void plan_free(jc_plan **p) {
  if (!p || !*p) return;
  free((*p)->order);
  free((*p)->groups);
  free(*p);
  *p = NULL;
}

/* Fisher-Yates shuffle of v[0..n) from stream r. */
static void shuffle(size_t *v, size_t n, jc_rng *r) {
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)(rng_uniform(r) * (double)i);
    if (j >= i) j = i - 1;
    size_t t = v[i - 1];
    v[i - 1] = v[j];
    v[j] = t;
  }
}

void plan_epoch(jc_plan *p, uint64_t seed, int64_t epoch, int shuffle_on) {
  for (size_t b = 0; b < p->n_blocks; b++) p->order[b] = b;
  if (!shuffle_on) return;
  jc_rng r = rng_stream(seed ^ rng_mix(0x5eedULL + (uint64_t)epoch));
  /* 1. Permute the chunk groups. */
  const size_t g = p->blocks_per_chunk, n_groups = (p->n_blocks + g - 1) / g;
  size_t *groups = p->groups;
  for (size_t i = 0; i < n_groups; i++) groups[i] = i;
  shuffle(groups, n_groups, &r);
  /* 2. Lay the groups out in that order and permute the blocks inside each window of
   * window_chunks consecutive groups (windows follow group boundaries: the last group of
   * the file may be short). */
  size_t pos = 0, window_start = 0;
  for (size_t i = 0; i < n_groups; i++) {
    for (size_t b = groups[i] * g; b < (groups[i] + 1) * g && b < p->n_blocks; b++) p->order[pos++] = b;
    if ((i + 1) % p->window_chunks == 0 || i + 1 == n_groups) {
      shuffle(p->order + window_start, pos - window_start, &r);
      window_start = pos;
    }
  }
}

jc_step_share plan_rank_step(const jc_plan *p, size_t step, int rank, int size) {
  size_t first, count, lo, hi;
  plan_step(p, step, &first, &count);
  plan_share(count, rank, size, &lo, &hi);
  jc_step_share s = {p->order + first + lo, (int)(hi - lo), lo, count, 0};
  for (size_t k = 0; k < count; k++) {
    size_t start, len;
    plan_block(p, p->order[first + k], &start, &len);
    s.batch_jets += len;
  }
  return s;
}

size_t plan_max_share(const jc_plan *p, int size) {
  return (p->blocks_per_batch + (size_t)size - 1) / (size_t)size;
}

void plan_step(const jc_plan *p, size_t step, size_t *first, size_t *count) {
  *first = step * p->blocks_per_batch;
  size_t end = *first + p->blocks_per_batch;
  if (end > p->n_blocks) end = p->n_blocks;
  *count = end > *first ? end - *first : 0;
}

void plan_share(size_t count, int rank, int size, size_t *lo, size_t *hi) {
  size_t base = count / (size_t)size, extra = count % (size_t)size, r = (size_t)rank;
  *lo = r * base + (r < extra ? r : extra);
  *hi = *lo + base + (r < extra ? 1 : 0);
}

void plan_block(const jc_plan *p, size_t b, size_t *start, size_t *len) {
  *start = b * p->micro;
  size_t end = *start + p->micro;
  if (end > p->n_samples) end = p->n_samples;
  *len = end - *start;
}
