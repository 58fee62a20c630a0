/* chunkzip.c - run-length deflate with per-block Huffman codes (see chunkzip.h).
 *
 * After HDF5's shuffle filter a jet chunk is long runs of zero bytes (padding rows, empty
 * pixels) between stretches of nearly random mantissa bytes. zlib level 1 hashes every byte
 * looking for matches that are almost all runs; this encoder only looks for runs, and finds
 * them 32 bytes at a time (AVX2; else 8). Format (RFC 1950 + 1951): a zlib header, dynamic-Huffman blocks
 * of up to BLOCK_TOKENS tokens, an empty fixed-Huffman final block, the Adler-32 of the input.
 * A token is a literal byte or a match at distance 1 (a run of k >= 4 equal bytes is a literal
 * and matches covering the other k - 1). The Adler-32 of a run is closed-form (adler_run).
 */
#include "jetcnn/chunkzip.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __AVX2__
#include <immintrin.h>
#endif

#define ADLER_MOD 65521u
#define MAX_MATCH 258
#define MIN_RUN 4
#define BLOCK_TOKENS (1 << 16)
#define N_LITLEN 286 /* 0..255 literals, 256 end of block, 257..285 lengths */
#define END_OF_BLOCK 256
#define MAX_CODE_BITS 15
#define N_CL 19 /* code-length alphabet */
#define MAX_CL_BITS 7

/* RFC 1951, 3.2.5: length symbols 257..285, their base lengths and extra bits */
static const uint16_t LEN_BASE[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                      31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t LEN_EXTRA[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                      2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
/* RFC 1951, 3.2.7: the order code-length code lengths are sent in */
static const uint8_t CL_ORDER[N_CL] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};

typedef struct {
  unsigned char *out;
  size_t pos, cap;
  uint64_t acc;
  int n_acc, overflow;
} bit_writer;

/* n <= 56 bits, LSB first (deflate's bit order). While 8 bytes of room are left the whole
 * accumulator is stored and the complete bytes are kept: no branch on how full it is. */
static inline void put_bits(bit_writer *w, uint64_t bits, int n) {
  w->acc |= bits << w->n_acc;
  w->n_acc += n;
  int bytes = w->n_acc >> 3;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (w->pos + 8 <= w->cap) {
    memcpy(w->out + w->pos, &w->acc, 8);
  } else
#endif
  {
    for (int i = 0; i < bytes; i++) {
      if (w->pos + (size_t)i < w->cap) w->out[w->pos + (size_t)i] = (unsigned char)(w->acc >> (8 * i));
      else w->overflow = 1;
    }
  }
  w->pos += (size_t)bytes;
  w->acc = bytes < 8 ? w->acc >> (8 * bytes) : 0; /* n_acc <= 7 + 56 */
  w->n_acc &= 7;
}

/* Pad to a byte boundary and write out what is left in the accumulator. */
static void flush_bits(bit_writer *w) {
  while (w->n_acc > 0) {
    if (w->pos < w->cap) w->out[w->pos] = (unsigned char)w->acc;
    else w->overflow = 1;
    w->pos++;
    w->acc >>= 8;
    w->n_acc -= 8;
  }
  w->n_acc = 0;
  w->acc = 0;
}

/* Sort sym[0..m) by f[sym], stably (equal frequencies keep their order): bottom-up merge
 * sort, m log m steps (an insertion sort of ~250 literals cost more than a small chunk's
 * whole encoding). */
static void sort_by_freq(int *sym, int m, const uint32_t *f) {
  int tmp[N_LITLEN], *from = sym, *to = tmp;
  for (int width = 1; width < m; width *= 2) {
    for (int lo = 0; lo < m; lo += 2 * width) {
      int mid = lo + width < m ? lo + width : m, hi = lo + 2 * width < m ? lo + 2 * width : m;
      int i = lo, j = mid, k = lo;
      while (i < mid && j < hi) to[k++] = f[from[j]] < f[from[i]] ? from[j++] : from[i++];
      while (i < mid) to[k++] = from[i++];
      while (j < hi) to[k++] = from[j++];
    }
    int *swap = from;
    from = to;
    to = swap;
  }
  if (from != sym) memcpy(sym, from, sizeof(int) * (size_t)m);
}

/* Huffman code lengths of freq[0..n) limited to `limit` bits (0 for unused symbols). If the
 * optimal code is too deep, frequencies are halved (kept >= 1) and the code rebuilt: every
 * round flattens the tree, and equal frequencies give depth <= ceil(log2 n) <= limit. */
static void huffman_lengths(const uint32_t *freq, int n, int limit, uint8_t *len) {
  uint32_t f[N_LITLEN], weight[2 * N_LITLEN];
  int sym[N_LITLEN], parent[2 * N_LITLEN];
  memcpy(f, freq, sizeof(uint32_t) * (size_t)n);
  memset(len, 0, (size_t)n);
  int m = 0;
  for (int s = 0; s < n; s++)
    if (f[s] > 0) sym[m++] = s;
  if (m == 0) return;
  if (m == 1) {
    len[sym[0]] = 1;
    return;
  }
  /* sorted once: halving, f -> (f >> 1) | 1, keeps the order */
  sort_by_freq(sym, m, f);
  for (;;) {
    /* two-queue Huffman: leaves 0..m-1 (ascending), internal nodes m.. in creation order */
    for (int k = 0; k < m; k++) weight[k] = f[sym[k]];
    int leaf = 0, node = m, next = m;
    while (next < 2 * m - 1) {
      int pick[2];
      for (int t = 0; t < 2; t++)
        pick[t] = (leaf < m && (node >= next || weight[leaf] <= weight[node])) ? leaf++ : node++;
      weight[next] = weight[pick[0]] + weight[pick[1]];
      parent[pick[0]] = parent[pick[1]] = next;
      next++;
    }
    /* depths from the root (the last node) down: parents come after their children */
    int depth[2 * N_LITLEN], deepest = 0;
    depth[2 * m - 2] = 0;
    for (int k = 2 * m - 3; k >= 0; k--) {
      depth[k] = depth[parent[k]] + 1;
      if (k < m && depth[k] > deepest) deepest = depth[k];
    }
    if (deepest <= limit) {
      for (int k = 0; k < m; k++) len[sym[k]] = (uint8_t)depth[k];
      return;
    }
    for (int k = 0; k < m; k++) f[sym[k]] = (f[sym[k]] >> 1) | 1u;
  }
}

/* Canonical codes from lengths (RFC 1951, 3.2.2), bit-reversed for LSB-first output. */
static void canonical_codes(const uint8_t *len, int n, uint16_t *code) {
  int count[MAX_CODE_BITS + 1] = {0};
  uint32_t next[MAX_CODE_BITS + 1];
  for (int s = 0; s < n; s++) count[len[s]]++;
  count[0] = 0;
  uint32_t c = 0;
  for (int b = 1; b <= MAX_CODE_BITS; b++) {
    c = (c + (uint32_t)count[b - 1]) << 1;
    next[b] = c;
  }
  for (int s = 0; s < n; s++) {
    code[s] = 0;
    if (len[s] == 0) continue;
    uint32_t v = next[len[s]]++, r = 0;
    for (int i = 0; i < len[s]; i++) r |= ((v >> i) & 1u) << (len[s] - 1 - i);
    code[s] = (uint16_t)r;
  }
}

/* Block state: tokens (0..255 literal, 256 + L a match of length L) and their frequencies. */
typedef struct {
  uint16_t *tokens;
  int n_tokens;
  uint32_t freq[N_LITLEN];
} block;

/* The header of a dynamic block: the literal/length code lengths, then the one distance code
 * (distance 1 = code 0, one bit), run-length coded with symbols 16-18 (RFC 1951, 3.2.7). */
static void write_header(bit_writer *w, const uint8_t *lit_len) {
  int n_lit = N_LITLEN;
  while (n_lit > 257 && lit_len[n_lit - 1] == 0) n_lit--;
  uint8_t seq[N_LITLEN + 1];
  memcpy(seq, lit_len, (size_t)n_lit);
  seq[n_lit] = 1; /* distance code 0 */
  int n_seq = n_lit + 1;
  /* code-length symbols with their extra bits */
  uint8_t cl_sym[N_LITLEN + 1], cl_extra[N_LITLEN + 1];
  int n_cl = 0;
  uint32_t cl_freq[N_CL] = {0};
  for (int i = 0; i < n_seq;) {
    int v = seq[i], run = 1;
    while (i + run < n_seq && seq[i + run] == v) run++;
    i += run;
    if (v == 0) {
      while (run >= 11) {
        int r = run > 138 ? 138 : run;
        cl_sym[n_cl] = 18, cl_extra[n_cl++] = (uint8_t)(r - 11);
        run -= r;
      }
      if (run >= 3) {
        cl_sym[n_cl] = 17, cl_extra[n_cl++] = (uint8_t)(run - 3);
        run = 0;
      }
    } else {
      cl_sym[n_cl] = (uint8_t)v, cl_extra[n_cl++] = 0;
      run--;
      while (run >= 3) {
        int r = run > 6 ? 6 : run;
        cl_sym[n_cl] = 16, cl_extra[n_cl++] = (uint8_t)(r - 3);
        run -= r;
      }
    }
    while (run-- > 0) cl_sym[n_cl] = (uint8_t)v, cl_extra[n_cl++] = 0;
  }
  for (int k = 0; k < n_cl; k++) cl_freq[cl_sym[k]]++;
  int n_used = 0;
  for (int k = 0; k < N_CL; k++) n_used += cl_freq[k] > 0;
  if (n_used < 2) cl_freq[cl_freq[0] ? 1 : 0] = 1; /* inflate refuses a one-symbol code-length code */
  uint8_t cl_len[N_CL];
  uint16_t cl_code[N_CL];
  huffman_lengths(cl_freq, N_CL, MAX_CL_BITS, cl_len);
  canonical_codes(cl_len, N_CL, cl_code);
  int n_order = N_CL;
  while (n_order > 4 && cl_len[CL_ORDER[n_order - 1]] == 0) n_order--;
  put_bits(w, (uint32_t)(n_lit - 257), 5);
  put_bits(w, 0, 5); /* one distance code */
  put_bits(w, (uint32_t)(n_order - 4), 4);
  for (int k = 0; k < n_order; k++) put_bits(w, cl_len[CL_ORDER[k]], 3);
  static const int EXTRA_BITS[3] = {2, 3, 7}; /* of symbols 16, 17, 18 */
  for (int k = 0; k < n_cl; k++) {
    put_bits(w, cl_code[cl_sym[k]], cl_len[cl_sym[k]]);
    if (cl_sym[k] >= 16) put_bits(w, cl_extra[k], EXTRA_BITS[cl_sym[k] - 16]);
  }
}

/* One non-final dynamic-Huffman block of b's tokens; empties b. */
static void write_block(bit_writer *w, block *b) {
  b->freq[END_OF_BLOCK] = 1;
  uint8_t len[N_LITLEN];
  uint16_t code[N_LITLEN];
  huffman_lengths(b->freq, N_LITLEN, MAX_CODE_BITS, len);
  canonical_codes(len, N_LITLEN, code);
  put_bits(w, 2u << 1, 3); /* BFINAL 0, BTYPE 10 */
  write_header(w, len);
  /* every token's bits: a literal's code; a match of length L (token 256 + L): its length
   * code, extra bits, and the one-bit distance code 0 */
  uint32_t tok_bits[256 + MAX_MATCH + 1];
  uint8_t tok_n[256 + MAX_MATCH + 1];
  for (int v = 0; v < 256; v++) tok_bits[v] = code[v], tok_n[v] = len[v];
  for (int s = 0; s < 29; s++) {
    int hi = s == 28 ? MAX_MATCH : LEN_BASE[s + 1] - 1;
    for (int l = LEN_BASE[s]; l <= hi; l++) {
      tok_bits[256 + l] = code[257 + s] | (uint32_t)(l - LEN_BASE[s]) << len[257 + s];
      tok_n[256 + l] = (uint8_t)(len[257 + s] + LEN_EXTRA[s] + 1);
    }
  }
  /* two tokens (at most 2 x 21 bits) per write: half as long a chain through the writer */
  int t = 0;
  for (; t + 2 <= b->n_tokens; t += 2) {
    int t0 = b->tokens[t], t1 = b->tokens[t + 1];
    put_bits(w, tok_bits[t0] | (uint64_t)tok_bits[t1] << tok_n[t0], tok_n[t0] + tok_n[t1]);
  }
  if (t < b->n_tokens) put_bits(w, tok_bits[b->tokens[t]], tok_n[b->tokens[t]]);
  put_bits(w, code[END_OF_BLOCK], len[END_OF_BLOCK]);
  b->n_tokens = 0;
  memset(b->freq, 0, sizeof b->freq);
}

static inline void add_token(bit_writer *w, block *b, int tok, int symbol) {
  b->tokens[b->n_tokens++] = (uint16_t)tok;
  b->freq[symbol]++;
  if (b->n_tokens == BLOCK_TOKENS) write_block(w, b);
}

#ifdef __AVX2__
/* Literals p[0..t): tokens, frequencies, and their Adler-32 (a += v, b += a per byte). */
static void add_literals(bit_writer *w, block *b, const unsigned char *p, int t, uint64_t *a, uint64_t *bs) {
  if (b->n_tokens + t > BLOCK_TOKENS) write_block(w, b);
  uint16_t *tok = b->tokens + b->n_tokens;
  uint64_t sa = *a, sb = *bs;
  for (int k = 0; k < t; k++) {
    tok[k] = p[k];
    b->freq[p[k]]++;
    sa += p[k];
    sb += sa;
  }
  b->n_tokens += t;
  if (b->n_tokens == BLOCK_TOKENS) write_block(w, b);
  *a = sa;
  *bs = sb;
}

/* Bit k set if a run of >= MIN_RUN equal bytes starts at p[k], k < 32 (reads p[0..35)). */
static inline uint32_t run_starts32(const unsigned char *p) {
  __m256i b0 = _mm256_loadu_si256((const __m256i *)p), b1 = _mm256_loadu_si256((const __m256i *)(p + 1));
  __m256i b2 = _mm256_loadu_si256((const __m256i *)(p + 2)), b3 = _mm256_loadu_si256((const __m256i *)(p + 3));
  __m256i eq = _mm256_and_si256(_mm256_and_si256(_mm256_cmpeq_epi8(b0, b1), _mm256_cmpeq_epi8(b1, b2)),
                                _mm256_cmpeq_epi8(b2, b3));
  return (uint32_t)_mm256_movemask_epi8(eq);
}
#endif

/* Adler-32 sums (RFC 1950), reduced mod 65521 only when they grow large: between
 * reductions a < 2^32 and b < 2^62, so one run of k < 2^21 bytes or one literal cannot
 * overflow 64 bits. */
typedef struct {
  uint64_t a, b;
} adler_sums;

static inline void adler_bound(adler_sums *s) {
  if ((s->a >> 32) | (s->b >> 62)) {
    s->a %= ADLER_MOD;
    s->b %= ADLER_MOD;
  }
}

/* k bytes of value v: a' = a + k v, b' = b + k a + v k (k + 1) / 2. */
static inline void adler_run(adler_sums *s, unsigned v, size_t k) {
  if (k < ((size_t)1 << 21)) {
    s->b += k * s->a + v * (k * (k + 1) / 2);
    s->a += k * v;
    return;
  }
  /* a longer run: reduce the factors first (k (k + 1) / 2 taken mod 2 * 65521, then halved) */
  uint64_t km = k % ADLER_MOD, k2 = 2u * ADLER_MOD;
  uint64_t tri = ((uint64_t)(k % k2) * (uint64_t)((k + 1) % k2) / 2) % ADLER_MOD;
  s->a %= ADLER_MOD;
  s->b = (s->b % ADLER_MOD + km * s->a + v * tri) % ADLER_MOD;
  s->a = (s->a + km * v) % ADLER_MOD;
}

/* End of the run of byte v that continues at src[j]: 32 (AVX2) or eight bytes at a time. */
static size_t run_end(const unsigned char *src, size_t j, size_t n, unsigned char v) {
#ifdef __AVX2__
  __m256i v32 = _mm256_set1_epi8((char)v);
  while (j + 32 <= n) {
    uint32_t same = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(src + j)), v32));
    if (same != 0xffffffffu) return j + (size_t)__builtin_ctz(~same);
    j += 32;
  }
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  uint64_t pattern = 0x0101010101010101ULL * v;
  while (j + 8 <= n) {
    uint64_t word;
    memcpy(&word, src + j, 8);
    uint64_t diff = word ^ pattern;
    if (diff) return j + (size_t)(__builtin_ctzll(diff) >> 3); /* the first byte is the low one */
    j += 8;
  }
#endif
  while (j < n && src[j] == v) j++;
  return j;
}

int chunkzip_encode(unsigned char *dst, size_t cap, const unsigned char *src, size_t n, size_t *out) {
  size_t cap_tokens = n < BLOCK_TOKENS ? n + 1 : BLOCK_TOKENS; /* a block never holds more tokens than bytes */
  block b = {malloc(sizeof(uint16_t) * cap_tokens), 0, {0}};
  if (!b.tokens) return -2;
  bit_writer w = {dst, 0, cap, 0, 0, 0};
  put_bits(&w, 0x78, 8); /* CMF: deflate, 32 K window */
  put_bits(&w, 0x01, 8); /* FLG: fastest, (CMF * 256 + FLG) % 31 == 0 */
  int len_sym[MAX_MATCH + 1] = {0}; /* deflate symbol of each match length */
  for (int l = 3, s = 0; l <= MAX_MATCH; l++) {
    while (s < 28 && LEN_BASE[s + 1] <= l) s++;
    len_sym[l] = 257 + s;
  }
  adler_sums sums = {1, 0};
  for (size_t i = 0; i < n;) {
#ifdef __AVX2__
    /* up to 32 literals at once: the positions before the next run of MIN_RUN */
    if (i + 32 + MIN_RUN - 1 <= n) {
      uint32_t starts = run_starts32(src + i);
      int t = starts ? __builtin_ctz(starts) : 32;
      if (t > 0) {
        add_literals(&w, &b, src + i, t, &sums.a, &sums.b);
        adler_bound(&sums);
        i += (size_t)t;
        if (t == 32) continue; /* else a run starts at i: on to it */
      }
    }
#endif
    unsigned char v = src[i];
    size_t j = i + 1 < n && src[i + 1] == v ? run_end(src, i + 1, n, v) : i + 1;
    size_t k = j - i;
    if (k < MIN_RUN) {
      for (size_t t = 0; t < k; t++) {
        add_token(&w, &b, v, v);
        sums.a += v;
        sums.b += sums.a;
      }
    } else {
      add_token(&w, &b, v, v);
      size_t m = k - 1;
      while (m >= 3) {
        size_t l = m > MAX_MATCH ? MAX_MATCH : m;
        if (m > MAX_MATCH && m - MAX_MATCH < 3) l = m - 3; /* leave a match of >= 3, not 1-2 bytes */
        add_token(&w, &b, 256 + (int)l, len_sym[l]);
        m -= l;
      }
      while (m-- > 0) add_token(&w, &b, v, v);
      adler_run(&sums, v, k);
    }
    adler_bound(&sums);
    i = j;
  }
  if (b.n_tokens > 0) write_block(&w, &b);
  free(b.tokens);
  put_bits(&w, 1u | 1u << 1, 3); /* an empty final block: BFINAL 1, BTYPE 01 (fixed) */
  put_bits(&w, 0, 7);            /* end of block, fixed code 0000000 */
  flush_bits(&w);
  uint32_t adler = (uint32_t)(sums.b % ADLER_MOD) << 16 | (uint32_t)(sums.a % ADLER_MOD);
  for (int s = 24; s >= 0; s -= 8) put_bits(&w, (adler >> s) & 0xffu, 8); /* big-endian */
  flush_bits(&w);
  *out = w.pos;
  return w.overflow ? -1 : 0;
}
