/* bench_jetfile.c - time one jet-file layout: writing it, and reading it as the trainer does.
 *
 *   bench_jetfile write JETS.h5 OUT.h5 CHUNK_ROWS SHUFFLE LEVEL
 *       Load every per-jet dataset of JETS.h5 (written by `jetcnn generate`) into memory,
 *       then write them to OUT.h5 through the library's writer (jetfile_create, collective
 *       rounds of jetfile_write_block, jetfile_commit with its fsync) with chunks of
 *       CHUNK_ROWS jets, HDF5's shuffle filter on no dataset (none), every dataset (all) or
 *       every dataset but /images (dense), and deflate LEVEL. Runs under mpiexec like
 *       `generate` does.
 *   bench_jetfile read FILE.h5 [MICRO BATCH WINDOW]
 *       One epoch of the trainer's input on one rank: data_open, data_set_cache of one shuffle
 *       window, plan_create / plan_epoch (seed 1, shuffled), and data_read of every block in
 *       plan order (defaults: micro-batch 32, batch 128, shuffle window 8192 jets, as
 *       configs/deeptop.cfg and docs/config.md).
 *
 * Prints one line of JSON: wall and CPU seconds of the timed part (write: create to commit,
 * rank 0's CPU; read: the epoch's reads, not the open), and for write the size of OUT.h5. bench/bench_layout.py runs it over the layouts.
 */
#define _POSIX_C_SOURCE 200809L
#include <hdf5.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "jetcnn/data.h"
#include "jetcnn/dist.h"
#include "jetcnn/h5io.h"
#include "jetcnn/jetfile.h"

static double cpu_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int die(MPI_Comm comm, const char *what, const jc_err *err) {
  fprintf(stderr, "bench_jetfile: %s%s%s\n", what, err ? ": " : "", err ? err->msg : "");
  MPI_Abort(comm, 1);
  return 1;
}

/* Read dataset name of f whole into buf as mtype; 0 on success. */
static int read_all(hid_t f, const char *name, hid_t mtype, void *buf) {
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  int ok = d >= 0 && H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0;
  if (d >= 0) H5Dclose(d);
  return ok ? 0 : -1;
}

/* Every per-jet dataset of a generated file, in memory (what `generate` holds before writing). */
static int load(const char *path, jetfile_block *all, hsize_t *n, MPI_Comm comm) {
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return -1;
  hid_t d = H5Dopen2(f, "/constituents", H5P_DEFAULT), s = d >= 0 ? H5Dget_space(d) : H5I_INVALID_HID;
  hsize_t cdims[3] = {0}, idims[4] = {0, 0, 0, 1};
  if (s < 0 || H5Sget_simple_extent_dims(s, cdims, NULL) != 3) return -1;
  H5Sclose(s);
  H5Dclose(d);
  d = H5Dopen2(f, "/images", H5P_DEFAULT);
  s = d >= 0 ? H5Dget_space(d) : H5I_INVALID_HID;
  int nd = s >= 0 ? H5Sget_simple_extent_dims(s, idims, NULL) : -1;
  if (nd < 3) return -1;
  H5Sclose(s);
  H5Dclose(d);
  *n = cdims[0];
  jetfile_layout layout = {(int)cdims[1], H5Lexists(f, "/charged", H5P_DEFAULT) > 0, (int)idims[1],
                           nd == 4 ? (int)idims[3] : 1};
  jc_err err;
  jc_err_clear(&err);
  if (jetfile_block_alloc(all, &layout, (int)*n, &err) != JC_OK) die(comm, "cannot hold the jets in memory", &err);
  int rc = read_all(f, "/constituents", H5T_NATIVE_FLOAT, all->constituents) |
           (layout.has_charged ? read_all(f, "/charged", H5T_NATIVE_UINT8, all->charged) : 0) |
           read_all(f, "/images", H5T_NATIVE_FLOAT, all->images) | read_all(f, "/labels", H5T_NATIVE_INT32, all->labels) |
           read_all(f, "/n_constituents", H5T_NATIVE_INT32, all->n_constituents) |
           read_all(f, "/jet_pt", H5T_NATIVE_FLOAT, all->jet_pt) | read_all(f, "/jet_eta", H5T_NATIVE_FLOAT, all->jet_eta) |
           read_all(f, "/jet_phi", H5T_NATIVE_FLOAT, all->jet_phi) |
           read_all(f, "/jet_mass", H5T_NATIVE_FLOAT, all->jet_mass) | read_all(f, "/tau1", H5T_NATIVE_FLOAT, all->tau1) |
           read_all(f, "/tau2", H5T_NATIVE_FLOAT, all->tau2) | read_all(f, "/tau3", H5T_NATIVE_FLOAT, all->tau3);
  H5Fclose(f);
  return rc;
}

/* Rows [start, start + n) of all as a block of their own (pointers into all). */
static jetfile_block rows_of(const jetfile_block *all, hsize_t start) {
  const jetfile_layout *l = &all->layout;
  size_t i = (size_t)start, image = (size_t)l->pixels * (size_t)l->pixels * (size_t)l->channels;
  jetfile_block b = *all;
  b.constituents = all->constituents + i * (size_t)l->n_const * 4;
  b.charged = all->charged ? all->charged + i * (size_t)l->n_const : NULL;
  b.images = all->images + i * image;
  b.labels = all->labels + i;
  b.n_constituents = all->n_constituents + i;
  b.jet_pt = all->jet_pt + i;
  b.jet_eta = all->jet_eta + i;
  b.jet_phi = all->jet_phi + i;
  b.jet_mass = all->jet_mass + i;
  b.tau1 = all->tau1 + i;
  b.tau2 = all->tau2 + i;
  b.tau3 = all->tau3 + i;
  return b;
}

static int bench_write(int argc, char **argv, MPI_Comm comm) {
  if (argc != 7) return die(comm, "usage: bench_jetfile write JETS.h5 OUT.h5 CHUNK_ROWS SHUFFLE LEVEL", NULL);
  jetfile_storage st = jetfile_storage_default();
  st.chunk_rows = atoi(argv[4]);
  if (strcmp(argv[5], "none") != 0 && strcmp(argv[5], "all") != 0 && strcmp(argv[5], "dense") != 0)
    return die(comm, "SHUFFLE is none, all or dense", NULL);
  st.shuffle = strcmp(argv[5], "none") != 0;
  st.shuffle_images = strcmp(argv[5], "all") == 0;
  st.deflate_level = atoi(argv[6]);
  jetfile_block all;
  hsize_t n = 0;
  if (load(argv[2], &all, &n, comm) != 0) return die(comm, "cannot read the jets of the input file", NULL);
  jc_err err;
  jc_err_clear(&err);
  MPI_Barrier(comm);
  double w0 = MPI_Wtime(), c0 = cpu_seconds();
  jetfile_writer w;
  if (jetfile_create(&w, argv[3], n, &all.layout, &st, comm, &err) != JC_OK) return die(comm, "create", &err);
  hsize_t row0, rows, start;
  jetfile_rank_rows(n, st.chunk_rows, dist_rank(comm), dist_size(comm), &row0, &rows);
  for (hsize_t round = 0; round < jetfile_rounds(n, st.chunk_rows, dist_size(comm)); round++) {
    int k = jetfile_round_rows(row0, rows, round, &start);
    jetfile_block b = rows_of(&all, k > 0 ? start : 0);
    if (jetfile_write_block(&w, start, k, &b, &err) != JC_OK) return die(comm, "write", &err);
  }
  if (jetfile_commit(&w, &err) != JC_OK) return die(comm, "commit", &err);
  double wall = MPI_Wtime() - w0, cpu = cpu_seconds() - c0;
  struct stat sb;
  if (dist_rank(comm) == 0) {
    if (stat(argv[3], &sb) != 0) return die(comm, "cannot stat the output", NULL);
    printf("{\"jets\": %llu, \"ranks\": %d, \"write_wall_s\": %.4f, \"write_cpu_s\": %.4f, \"bytes\": %lld}\n",
           (unsigned long long)n, dist_size(comm), wall, cpu, (long long)sb.st_size);
  }
  jetfile_block_free(&all);
  return 0;
}

static int bench_read(int argc, char **argv, MPI_Comm comm) {
  if (argc != 3 && argc != 6) return die(comm, "usage: bench_jetfile read FILE.h5 [MICRO BATCH WINDOW]", NULL);
  size_t micro = argc == 6 ? (size_t)atol(argv[3]) : 32, batch = argc == 6 ? (size_t)atol(argv[4]) : 128;
  size_t window_jets = argc == 6 ? (size_t)atol(argv[5]) : 8192;
  jc_err err;
  jc_err_clear(&err);
  /* the image shape from the file */
  hid_t f = H5Fopen(argv[2], H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t d = f >= 0 ? H5Dopen2(f, "/images", H5P_DEFAULT) : H5I_INVALID_HID;
  hid_t s = d >= 0 ? H5Dget_space(d) : H5I_INVALID_HID;
  hsize_t dims[4] = {0, 0, 0, 1};
  int nd = s >= 0 ? H5Sget_simple_extent_dims(s, dims, NULL) : -1;
  if (s >= 0) H5Sclose(s);
  if (d >= 0) H5Dclose(d);
  if (f >= 0) H5Fclose(f);
  if (nd < 3) return die(comm, "no /images in the file", NULL);
  jc_shape shape = {(int)(nd == 4 ? dims[3] : 1), (int)dims[1], (int)dims[2]};
  jc_data *data = NULL;
  if (data_open(argv[2], shape, 2, MPI_COMM_SELF, &data, &err) != JC_OK) return die(comm, "open", &err);
  size_t window = window_jets / data->chunk_rows;
  if (window < 1) window = 1;
  jc_plan *plan = NULL;
  if (data_set_cache(data, window, &err) != JC_OK ||
      plan_create(data->n, micro, batch, data->chunk_rows, window, &plan, &err) != JC_OK)
    return die(comm, "plan", &err);
  plan_epoch(plan, 1, 0, 1);
  float *x = malloc(sizeof(float) * micro * (size_t)shape.c * (size_t)shape.h * (size_t)shape.w);
  if (!x) return die(comm, "out of memory", NULL);
  size_t jets = 0;
  double w0 = MPI_Wtime(), c0 = cpu_seconds();
  for (size_t step = 0; step < plan->n_steps; step++) {
    size_t first, count;
    plan_step(plan, step, &first, &count);
    for (size_t k = 0; k < count; k++) {
      size_t start, len;
      plan_block(plan, plan->order[first + k], &start, &len);
      if (data_read(data, start, len, x, &err) != JC_OK) return die(comm, "read", &err);
      jets += len;
    }
  }
  double wall = MPI_Wtime() - w0, cpu = cpu_seconds() - c0;
  printf("{\"jets\": %zu, \"chunk_rows\": %zu, \"read_wall_s\": %.4f, \"read_cpu_s\": %.4f}\n", jets, data->chunk_rows,
         wall, cpu);
  free(x);
  plan_free(&plan);
  data_close(&data);
  return 0;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm comm = MPI_COMM_WORLD;
  h5io_init();
  int rc = argc >= 2 && strcmp(argv[1], "write") == 0  ? bench_write(argc, argv, comm)
           : argc >= 2 && strcmp(argv[1], "read") == 0 ? bench_read(argc, argv, comm)
                                                        : die(comm, "usage: bench_jetfile write|read ...", NULL);
  MPI_Finalize();
  return rc;
}
