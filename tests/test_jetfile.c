/* test_jetfile.c - the jet file writer under MPI (run with 1, 2 and 3 ranks by
 * tests/generate.cmake): which rows each rank writes, and files written with a small HDF5
 * metadata cache read back exactly, with the chunking and filters asked for.
 *
 * The small cache is the point: the chunk index of a big file (generate --jets 1000000: 12
 * datasets of 3907 chunks) outgrows HDF5's default metadata cache, and the cache's sync points
 * then write index blocks in the middle of a collective filtered write. HDF5 1.10.8 wrote them
 * with the raw write's MPI datatypes ("writev: Bad address", exit 4, or a hang with 2 ranks);
 * h5io_create_tmp() now asks for collective metadata writes. A 16 KiB cache reaches the same
 * path with 3000 jets: without that fix this test fails the same way.
 *
 * usage: test_jetfile DIR
 */
#include <hdf5.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gen_check.h"
#include "jetcnn/dist.h"
#include "jetcnn/h5io.h"
#include "jetcnn/jetfile.h"

/* The value every dataset holds at (row, element k of the row): exact in float. */
static float value(hsize_t row, size_t k, int dataset) { return (float)(row * 64 + k % 64) + 0.25f * (float)dataset; }

/* Rows [0, n) of b hold file rows start.. */
static void fill(jetfile_block *b, hsize_t start, int n) {
  const jetfile_layout *l = &b->layout;
  size_t nc = (size_t)l->n_const * 4, np = (size_t)l->pixels * (size_t)l->pixels * (size_t)l->channels;
  float *cols[] = {b->jet_pt, b->jet_eta, b->jet_phi, b->jet_mass, b->tau1, b->tau2, b->tau3};
  for (int i = 0; i < n; i++) {
    hsize_t row = start + (hsize_t)i;
    for (size_t k = 0; k < nc; k++) b->constituents[(size_t)i * nc + k] = value(row, k, 0);
    for (int k = 0; k < l->n_const; k++) b->charged[(size_t)i * (size_t)l->n_const + (size_t)k] = (uint8_t)((row + (hsize_t)k) & 1);
    for (size_t k = 0; k < np; k++) b->images[(size_t)i * np + k] = value(row, k, 1);
    b->labels[i] = (int32_t)(row % 2);
    b->n_constituents[i] = (int32_t)(row % 7);
    for (int c = 0; c < 7; c++) cols[c][i] = value(row, 0, 2 + c);
  }
}

/* Every rank's rows: contiguous, in rank order, whole chunks, covering [0, n) once. */
static void test_rank_rows(void) {
  const hsize_t sizes[] = {1, 63, 64, 65, 1000, 1024, 3000, 100000};
  const int chunks[] = {1, 64, 128, 256, 512, 1024};
  for (size_t a = 0; a < sizeof sizes / sizeof sizes[0]; a++)
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++)
      for (int size = 1; size <= 5; size++) {
        hsize_t n = sizes[a], next = 0, most = 0;
        for (int r = 0; r < size; r++) {
          hsize_t r0, m;
          jetfile_rank_rows(n, chunks[c], r, size, &r0, &m);
          CHECK(r0 == next || m == 0, "n %llu chunk %d rank %d/%d starts at %llu, expected %llu", (unsigned long long)n,
                chunks[c], r, size, (unsigned long long)r0, (unsigned long long)next);
          CHECK(m == 0 || r0 % (hsize_t)chunks[c] == 0, "rank %d/%d starts inside a chunk", r, size);
          if (m > 0) next = r0 + m;
          hsize_t rows = 0, start;
          for (hsize_t round = 0; round < jetfile_rounds(n, chunks[c], size); round++) {
            int k = jetfile_round_rows(r0, m, round, &start);
            CHECK(k == 0 || start == r0 + rows, "round %llu of rank %d starts at %llu", (unsigned long long)round, r,
                  (unsigned long long)start);
            CHECK(k >= 0 && k <= JETFILE_ROUND_ROWS, "round of %d rows", k);
            rows += (hsize_t)k;
          }
          CHECK(rows == m, "n %llu chunk %d: rank %d/%d writes %llu of its %llu rows in its rounds", (unsigned long long)n,
                chunks[c], r, size, (unsigned long long)rows, (unsigned long long)m);
          if (m > most) most = m;
        }
        CHECK(next == n, "n %llu chunk %d over %d ranks: rows end at %llu", (unsigned long long)n, chunks[c], size,
              (unsigned long long)next);
      }
}

/* Dataset `name` of the file: every value as fill() wrote it, chunks of `chunk_rows` rows,
 * and the filters of st. */
static void check_dataset(hid_t f, const char *name, int dataset, hsize_t n, size_t per_row, const jetfile_storage *st) {
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  CHECK(d >= 0, "%s missing", name);
  if (d < 0) return;
  hid_t dcpl = H5Dget_create_plist(d);
  hsize_t chunk[4] = {0};
  CHECK(H5Pget_chunk(dcpl, 4, chunk) > 0 && chunk[0] == (n < (hsize_t)st->chunk_rows ? n : (hsize_t)st->chunk_rows),
        "%s: chunks of %llu rows, expected %d", name, (unsigned long long)chunk[0], st->chunk_rows);
  int nf = H5Pget_nfilters(dcpl), shuffle = 0, deflate = -1;
  for (int i = 0; i < nf; i++) {
    unsigned flags, cd[4] = {0};
    size_t ncd = 4;
    H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, 0, NULL, NULL);
    if (id == H5Z_FILTER_SHUFFLE) shuffle = 1;
    if (id == H5Z_FILTER_DEFLATE) deflate = (int)cd[0];
  }
  int want_shuffle = strcmp(name, "/images") == 0 ? st->shuffle_images : st->shuffle;
  CHECK(shuffle == want_shuffle, "%s: shuffle %d, expected %d", name, shuffle, want_shuffle);
  CHECK(deflate == (st->deflate_level > 0 ? st->deflate_level : -1), "%s: deflate level %d, expected %d", name, deflate,
        st->deflate_level);
  H5Pclose(dcpl);
  int is_u8 = strcmp(name, "/charged") == 0, is_int = strcmp(name, "/labels") == 0 || strcmp(name, "/n_constituents") == 0;
  float *x = malloc(sizeof(float) * n * per_row);
  if (!x) {
    CHECK(0, "out of memory");
    H5Dclose(d);
    return;
  }
  CHECK(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) >= 0, "%s: cannot read", name);
  long bad = 0, first = -1;
  for (hsize_t row = 0; row < n; row++)
    for (size_t k = 0; k < per_row; k++) {
      float want = is_u8 ? (float)((row + k) & 1)
                   : is_int ? (float)(strcmp(name, "/labels") == 0 ? row % 2 : row % 7)
                            : value(row, k, dataset);
      if (x[row * per_row + k] != want && bad++ == 0) first = (long)row;
    }
  CHECK(bad == 0, "%s: %ld values differ from what was written, the first in row %ld", name, bad, first);
  free(x);
  H5Dclose(d);
}

/* Write n jets with storage st into path (collective), then check the file on rank 0. */
static void write_and_check(const char *path, hsize_t n, const jetfile_storage *st, MPI_Comm comm) {
  jetfile_layout layout = {4, 1, 4, 1};
  jetfile_block b;
  jc_err err;
  jc_err_clear(&err);
  jc_code rc = jetfile_block_alloc(&b, &layout, JETFILE_ROUND_ROWS, &err);
  jetfile_writer w;
  if (rc == JC_OK) rc = jetfile_create(&w, path, n, &layout, st, comm, &err);
  if (rc == JC_OK) {
    hsize_t row0, m, start;
    jetfile_rank_rows(n, st->chunk_rows, dist_rank(comm), dist_size(comm), &row0, &m);
    for (hsize_t round = 0; round < jetfile_rounds(n, st->chunk_rows, dist_size(comm)) && rc == JC_OK; round++) {
      int k = jetfile_round_rows(row0, m, round, &start);
      fill(&b, start, k);
      rc = jetfile_write_block(&w, start, k, &b, &err);
    }
    if (rc == JC_OK) rc = jetfile_commit(&w, &err);
    else jetfile_abandon(&w);
  }
  jetfile_block_free(&b);
  if (rc != JC_OK) {
    /* the writer agrees on failures, but a failure inside HDF5's collectives may not be */
    fprintf(stderr, "FAIL: %s, %llu jets, chunks of %d rows, metadata cache %zu bytes: %s\n", path,
            (unsigned long long)n, st->chunk_rows, st->metadata_cache, err.msg);
    MPI_Abort(comm, 1);
  }
  if (dist_rank(comm) == 0) {
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && (hsize_t)sb.st_size <= jetfile_estimate_bytes(&layout, n),
          "%s: %lld bytes, more than the estimate %llu", path, (long long)sb.st_size,
          (unsigned long long)jetfile_estimate_bytes(&layout, n));
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0, "%s: cannot open the file written", path);
    if (f >= 0) {
      check_dataset(f, "/constituents", 0, n, 16, st);
      check_dataset(f, "/charged", -1, n, 4, st);
      check_dataset(f, "/images", 1, n, 16, st);
      check_dataset(f, "/labels", -1, n, 1, st);
      check_dataset(f, "/n_constituents", -1, n, 1, st);
      const char *cols[] = {"/jet_pt", "/jet_eta", "/jet_phi", "/jet_mass", "/tau1", "/tau2", "/tau3"};
      for (int c = 0; c < 7; c++) check_dataset(f, cols[c], 2 + c, n, 1, st);
      H5Fclose(f);
    }
  }
  MPI_Barrier(comm);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm comm = MPI_COMM_WORLD;
  h5io_init();
  if (argc != 2) {
    fprintf(stderr, "usage: test_jetfile DIR\n");
    MPI_Abort(comm, 2);
  }
  char path[4096];
  test_rank_rows();

  /* the big-file path at small scale: 12 chunk indexes that outgrow a 16 KiB metadata cache */
  jetfile_storage small_cache = jetfile_storage_default();
  small_cache.metadata_cache = 16384;
  snprintf(path, sizeof path, "%s/small_cache_np%d.h5", argv[1], dist_size(comm));
  write_and_check(path, 3000, &small_cache, comm);

  /* other layouts (what bench/bench_layout.py measures), also with a small cache */
  jetfile_storage others[] = {{64, 0, 0, 3, 8192}, {1024, 1, 1, 4, 0}, {128, 0, 1, 0, 0}};
  for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
    snprintf(path, sizeof path, "%s/storage%zu_np%d.h5", argv[1], i, dist_size(comm));
    write_and_check(path, 2500, &others[i], comm);
  }

  /* unsupported storage is refused before anything is created */
  jetfile_storage bad[] = {{100, 1, 0, 1, 0}, {256, 1, 0, 10, 0}, {0, 1, 0, 1, 0}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    jetfile_writer w;
    jetfile_layout layout = {4, 1, 4, 1};
    jc_err err;
    jc_err_clear(&err);
    snprintf(path, sizeof path, "%s/bad%zu.h5", argv[1], i);
    jc_code rc = jetfile_create(&w, path, 1000, &layout, &bad[i], comm, &err);
    CHECK(rc == JC_ERR_USAGE, "storage {%d, %d, %d} accepted (code %d)", bad[i].chunk_rows, bad[i].shuffle,
          bad[i].deflate_level, (int)rc);
    if (rc == JC_OK) jetfile_abandon(&w);
  }

  int mine = failures, all = 0;
  MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_SUM, comm);
  failures = all;
  int rc = dist_rank(comm) == 0 ? check_report("test_jetfile") : (all ? 1 : 0);
  MPI_Finalize();
  return rc;
}
