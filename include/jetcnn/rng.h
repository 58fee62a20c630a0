/* rng.h - deterministic random numbers. Counter-based: a value depends only on its key
 * and counter, never on which rank or thread asks, so results do not change with the
 * number of ranks or threads. */
#ifndef JETCNN_RNG_H
#define JETCNN_RNG_H

#include <stdint.h>

/* SplitMix64 finaliser: a well-mixed 64-bit hash of x. */
static inline uint64_t rng_mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

/* Hash of a key and a counter. */
static inline uint64_t rng_at(uint64_t key, uint64_t counter) { return rng_mix(rng_mix(key) ^ counter); }

/* Uniform double in [0, 1) from 53 random bits. */
static inline double rng_unit(uint64_t bits) { return (double)(bits >> 11) * (1.0 / 9007199254740992.0); }

/* A sequential stream (state advanced by each draw). */
typedef struct {
  uint64_t key, counter;
} jc_rng;

static inline jc_rng rng_stream(uint64_t key) { return (jc_rng){rng_mix(key), 0}; }
static inline uint64_t rng_next(jc_rng *r) { return rng_at(r->key, r->counter++); }
static inline double rng_uniform(jc_rng *r) { return rng_unit(rng_next(r)); }

#endif
