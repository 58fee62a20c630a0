/* jetdeflate.c - a fast encoder for HDF5's standard shuffle + deflate chunks (see jetfile.h).
 *
 * Jet chunks are mostly zeros (padding rows, empty pixels) and, after the shuffle filter,
 * long runs of equal bytes. zlib at level 1 spends as long on them as the whole physics of a
 * jet. This encoder writes the same format (a zlib stream, RFC 1950, holding one deflate
 * block with the fixed Huffman code, RFC 1951) with one idea only: a run of k >= 4 equal
 * bytes is a literal plus back-references at distance 1; everything else is a literal. The
 * Adler-32 of a run is closed-form:
 *     a' = a + k v,   b' = b + k a + v k (k + 1) / 2   (mod 65521).
 * Any inflate reads the output: the writer stores these chunks with H5Dwrite_chunk under the
 * dataset's ordinary shuffle + deflate pipeline (HDF5 1.10 forbids replacing its own deflate
 * filter, so the encoder cannot sit inside the pipeline).
 */
#include "jetcnn/jetfile.h"

#include <string.h>

#define ADLER_MOD 65521u
#define MAX_MATCH 258
#define MIN_RUN 4 /* a literal + a match of >= 3 */
#define LITERALS_PER_REDUCE (1u << 20) /* keeps the Adler sums far below 2^64 */

typedef struct {
  uint32_t bits; /* bit-reversed Huffman code with any extra bits above it */
  int n_bits;
} code;

static code literal_code[256];
static code match_code[MAX_MATCH + 1]; /* length code + extra bits + 5-bit distance code 0 */
static int tables_ready;

static uint32_t reverse_bits(uint32_t v, int n) {
  uint32_t r = 0;
  for (int i = 0; i < n; i++) r |= ((v >> i) & 1u) << (n - 1 - i);
  return r;
}

/* The fixed Huffman code of literal/length symbol s (RFC 1951, 3.2.6), bit-reversed. */
static code fixed_code(int s) {
  if (s < 144) return (code){reverse_bits(0x30u + (uint32_t)s, 8), 8};
  if (s < 256) return (code){reverse_bits(0x190u + (uint32_t)(s - 144), 9), 9};
  if (s < 280) return (code){reverse_bits((uint32_t)(s - 256), 7), 7};
  return (code){reverse_bits(0xc0u + (uint32_t)(s - 280), 8), 8};
}

static void build_tables(void) {
  /* length symbols 257..285: base lengths and extra bits (RFC 1951, 3.2.5) */
  static const int base[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                               31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
  static const int extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
  for (int v = 0; v < 256; v++) literal_code[v] = fixed_code(v);
  for (int len = 3; len <= MAX_MATCH; len++) {
    int s = 28;
    while (base[s] > len) s--;
    code c = fixed_code(257 + s);
    c.bits |= (uint32_t)(len - base[s]) << c.n_bits;
    c.n_bits += extra[s] + 5; /* the distance code for distance 1 is five zero bits */
    match_code[len] = c;
  }
  tables_ready = 1;
}

typedef struct {
  unsigned char *out;
  size_t pos;
  uint64_t acc;
  int n_acc;
} bit_writer;

static inline void put_bits(bit_writer *w, uint32_t bits, int n) {
  w->acc |= (uint64_t)bits << w->n_acc;
  w->n_acc += n;
  if (w->n_acc >= 32) {
    uint32_t word = (uint32_t)w->acc;
    for (int i = 0; i < 4; i++) w->out[w->pos++] = (unsigned char)(word >> (8 * i));
    w->acc >>= 32;
    w->n_acc -= 32;
  }
}

/* Length of the run of bytes equal to src[i] starting at i (at least 1). */
static size_t run_length(const unsigned char *src, size_t i, size_t n) {
  uint64_t pattern = 0x0101010101010101ull * src[i];
  size_t j = i + 1;
  while (j + 8 <= n) {
    uint64_t word;
    memcpy(&word, src + j, 8);
    uint64_t diff = word ^ pattern;
    if (diff) return j - i + (size_t)(__builtin_ctzll(diff) >> 3); /* little-endian byte order */
    j += 8;
  }
  while (j < n && src[j] == src[i]) j++;
  return j - i;
}

size_t jetdeflate_encode(const unsigned char *src, size_t n, unsigned char *out) {
  if (!tables_ready) build_tables();
  bit_writer w = {out, 0, 0, 0};
  out[w.pos++] = 0x78; /* CMF: deflate, 32 kB window */
  out[w.pos++] = 0x01; /* FLG: no dictionary, (0x78 * 256 + 0x01) % 31 == 0 */
  put_bits(&w, 1u | (1u << 1), 3); /* BFINAL = 1, BTYPE = 01 (fixed Huffman) */
  uint64_t a = 1, b = 0;
  uint32_t literals = 0;
  size_t i = 0;
  while (i < n) {
    size_t k = run_length(src, i, n);
    unsigned v = src[i];
    if (k < MIN_RUN) {
      for (size_t r = 0; r < k; r++) {
        put_bits(&w, literal_code[v].bits, literal_code[v].n_bits);
        a += v;
        b += a;
      }
      literals += (uint32_t)k;
      if (literals >= LITERALS_PER_REDUCE) {
        a %= ADLER_MOD;
        b %= ADLER_MOD;
        literals = 0;
      }
    } else {
      put_bits(&w, literal_code[v].bits, literal_code[v].n_bits);
      size_t left = k - 1;
      while (left >= 3) {
        /* never leave 1 or 2 bytes that a match cannot cover */
        size_t len = left > MAX_MATCH ? (left - MAX_MATCH < 3 ? left - 3 : MAX_MATCH) : left;
        put_bits(&w, match_code[len].bits, match_code[len].n_bits);
        left -= len;
      }
      for (size_t r = 0; r < left; r++) put_bits(&w, literal_code[v].bits, literal_code[v].n_bits);
      uint64_t km = k % ADLER_MOD;
      uint64_t tri = (k % 2 == 0 ? (k / 2) % ADLER_MOD * ((k + 1) % ADLER_MOD) : k % ADLER_MOD * ((k + 1) / 2 % ADLER_MOD));
      a %= ADLER_MOD;
      b = (b + km * a + (uint64_t)v * (tri % ADLER_MOD)) % ADLER_MOD;
      a = (a + km * v) % ADLER_MOD;
    }
    i += k;
  }
  put_bits(&w, 0, 7); /* end of block: symbol 256 is seven zero bits */
  while (w.n_acc > 0) {
    out[w.pos++] = (unsigned char)w.acc;
    w.acc >>= 8;
    w.n_acc = w.n_acc > 8 ? w.n_acc - 8 : 0;
  }
  uint32_t adler = (uint32_t)((b % ADLER_MOD) << 16 | (a % ADLER_MOD));
  for (int s = 24; s >= 0; s -= 8) out[w.pos++] = (unsigned char)(adler >> s);
  return w.pos;
}

size_t jetdeflate_chunk(const unsigned char *src, size_t n_elems, size_t elem_size, unsigned char *scratch,
                        unsigned char *out) {
  size_t n = n_elems * elem_size;
  if (elem_size == 1 || n_elems <= 1) return jetdeflate_encode(src, n, out);
  /* HDF5's shuffle filter: byte b of element i goes to scratch[b * n_elems + i] */
  if (elem_size == 4) {
    for (size_t i = 0; i < n_elems; i++) {
      scratch[i] = src[4 * i];
      scratch[n_elems + i] = src[4 * i + 1];
      scratch[2 * n_elems + i] = src[4 * i + 2];
      scratch[3 * n_elems + i] = src[4 * i + 3];
    }
  } else {
    for (size_t i = 0; i < n_elems; i++)
      for (size_t b = 0; b < elem_size; b++) scratch[b * n_elems + i] = src[elem_size * i + b];
  }
  return jetdeflate_encode(scratch, n, out);
}
