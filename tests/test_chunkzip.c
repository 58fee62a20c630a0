/* test_chunkzip.c - chunkzip_encode against zlib's inflate (round trips over runs, random
 * bytes, block boundaries, long non-zero runs for the closed-form Adler-32, a short output
 * buffer), and jetcnn's compress2 against libz's own: byte-identical outside fast mode. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "gen_check.h"
#include "jetcnn/chunkzip.h"

static uint64_t rng_state = 12345;
static uint32_t next_u32(void) {
  rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (uint32_t)(rng_state >> 33);
}

/* Encode src, inflate it with zlib (which checks the Adler-32) and compare. */
static void round_trip(const char *what, const unsigned char *src, size_t n) {
  size_t cap = n + n / 8 + 1024, out = 0;
  unsigned char *z = malloc(cap), *back = malloc(n + 1);
  if (!z || !back) {
    CHECK(0, "out of memory");
    free(z);
    free(back);
    return;
  }
  int rc = chunkzip_encode(z, cap, src, n, &out);
  CHECK(rc == 0, "%s: encode returned %d", what, rc);
  uLongf back_len = (uLongf)n;
  int zrc = uncompress(back, &back_len, z, (uLong)out);
  CHECK(zrc == Z_OK && back_len == n && memcmp(back, src, n) == 0, "%s (%zu bytes): inflate gave %d, %lu bytes%s",
        what, n, zrc, (unsigned long)back_len, zrc == Z_OK && back_len == n ? ", different bytes" : "");
  /* the trailer is the input's Adler-32, big-endian */
  uint32_t adler = (uint32_t)adler32(adler32(0, Z_NULL, 0), src, (uInt)n);
  uint32_t got = (uint32_t)z[out - 4] << 24 | (uint32_t)z[out - 3] << 16 | (uint32_t)z[out - 2] << 8 | z[out - 1];
  CHECK(got == adler, "%s: Adler-32 %08x, expected %08x", what, got, adler);
  free(z);
  free(back);
}

static void test_round_trips(void) {
  enum { N = 1 << 21 };
  unsigned char *buf = calloc(N, 1);
  if (!buf) {
    CHECK(0, "out of memory");
    return;
  }
  round_trip("empty", buf, 0);
  buf[0] = 7;
  round_trip("one byte", buf, 1);
  memset(buf, 0, N);
  round_trip("zeros", buf, N);
  memset(buf, 0xab, N);
  round_trip("a long non-zero run", buf, N);
  for (size_t i = 0; i < N; i++) buf[i] = (unsigned char)next_u32();
  round_trip("random bytes (several blocks)", buf, N);
  /* runs of every length 1..600 (match splits around 258) of random values, zeros between */
  size_t n = 0;
  for (int len = 1; len <= 600 && n + 2 * 600 < N; len++) {
    unsigned char v = (unsigned char)(1 + next_u32() % 255);
    for (int k = 0; k < len; k++) buf[n++] = v;
    for (int k = 0; k < len % 7; k++) buf[n++] = 0;
  }
  round_trip("runs of 1..600", buf, n);
  /* like a shuffled jet chunk: a few random stretches in long zero runs, long 0xff runs */
  memset(buf, 0, N);
  for (size_t i = 0; i < N; i += 4096 + next_u32() % 9000) {
    size_t len = next_u32() % 700;
    for (size_t k = 0; k < len && i + k < N; k++) buf[i + k] = (unsigned char)next_u32();
  }
  memset(buf + 100000, 0xff, 70001);
  round_trip("sparse chunk", buf, N);
  /* Fibonacci frequencies (byte k appears fib(k) times) in shuffled order: the optimal
   * Huffman code is ~25 bits deep, so the 15-bit length limit must act */
  n = 0;
  for (uint32_t k = 1, fa = 1, fb = 1; k <= 25 && n + fb <= N; k++) {
    for (uint32_t r = 0; r < fb; r++) buf[n++] = (unsigned char)(2 * k + 1);
    uint32_t t = fa + fb;
    fa = fb;
    fb = t;
  }
  for (size_t i = n - 1; i > 0; i--) {
    size_t j = next_u32() % (i + 1);
    unsigned char t = buf[i];
    buf[i] = buf[j];
    buf[j] = t;
  }
  round_trip("Fibonacci frequencies (deep Huffman tree)", buf, n);
  free(buf);
}

static void test_short_output(void) {
  unsigned char src[5000], dst[300 + 64];
  for (int i = 0; i < 5000; i++) src[i] = (unsigned char)next_u32();
  memset(dst, 0x5a, sizeof dst);
  size_t out = 0;
  int rc = chunkzip_encode(dst, 300, src, sizeof src, &out);
  CHECK(rc == -1, "5000 random bytes into 300: returned %d, not -1", rc);
  int untouched = 1;
  for (size_t i = 300; i < sizeof dst; i++) untouched &= dst[i] == 0x5a;
  CHECK(untouched, "encode wrote past its capacity");
  uLongf len = 300;
  chunkzip_fast(1);
  rc = compress2(dst, &len, src, sizeof src, 1);
  CHECK(rc == Z_BUF_ERROR, "fast compress2 into a short buffer returned %d, not Z_BUF_ERROR", rc);
  /* random bytes into what HDF5's deflate filter offers (compressBound): chunkzip's Huffman
   * blocks do not fit, zlib's stored blocks do; the filter must not fail */
  unsigned char big[5000 + 64], back[5000];
  uLongf big_len = compressBound(sizeof src), back_len = sizeof back;
  rc = compress2(big, &big_len, src, sizeof src, 1);
  int zrc = uncompress(back, &back_len, big, big_len);
  CHECK(rc == Z_OK && zrc == Z_OK && back_len == sizeof src && memcmp(back, src, sizeof src) == 0,
        "fast compress2 of 5000 random bytes into compressBound: %d, inflate %d", rc, zrc);
  chunkzip_fast(0);
}

typedef int (*compress2_fn)(Bytef *, uLongf *, const Bytef *, uLong, int);

static void test_compress2(void) {
  compress2_fn zlib_compress2 = (compress2_fn)dlsym(RTLD_NEXT, "compress2");
  CHECK(zlib_compress2 && zlib_compress2 != compress2, "libz's own compress2 not found behind ours");
  if (!zlib_compress2) return;
  enum { N = 300000 };
  unsigned char *src = calloc(N, 1), *a = malloc(N + 1000), *b = malloc(N + 1000);
  if (!src || !a || !b) {
    CHECK(0, "out of memory");
    free(src);
    free(a);
    free(b);
    return;
  }
  for (size_t i = 0; i < N; i += 3 + next_u32() % 40) src[i] = (unsigned char)next_u32();
  for (int level = -1; level <= 10; level++) {
    uLongf la = N + 1000, lb = N + 1000;
    int ra = compress2(a, &la, src, N, level), rb = zlib_compress2(b, &lb, src, N, level);
    CHECK(ra == rb && la == lb && (ra != Z_OK || memcmp(a, b, la) == 0),
          "level %d: ours gave %d (%lu bytes), zlib %d (%lu bytes)", level, ra, (unsigned long)la, rb,
          (unsigned long)lb);
  }
  uLongf la = 10, lb = 10;
  int ra = compress2(a, &la, src, N, 1), rb = zlib_compress2(b, &lb, src, N, 1);
  CHECK(ra == rb && la == lb, "short buffer: ours %d (%lu), zlib %d (%lu)", ra, (unsigned long)la, rb,
        (unsigned long)lb);
  chunkzip_fast(1);
  la = N + 1000;
  ra = compress2(a, &la, src, N, 1);
  uLongf back = N;
  int rc = uncompress(b, &back, a, la);
  CHECK(ra == Z_OK && rc == Z_OK && back == N && memcmp(b, src, N) == 0, "fast compress2 round trip: %d, %d", ra, rc);
  chunkzip_fast(0);
  free(src);
  free(a);
  free(b);
}

int main(void) {
  test_round_trips();
  test_short_output();
  test_compress2();
  return check_report("test_chunkzip");
}
