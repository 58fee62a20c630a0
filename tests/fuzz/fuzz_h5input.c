/* fuzz_h5input.c - libFuzzer target: arbitrary bytes as an HDF5 jets file, opened and
 * validated by data_open() against an 8x8x1, 2-class model and, when valid, read whole.
 *
 * MPI is initialised once; every input is written to a private temporary file and opened on
 * MPI_COMM_SELF. Seeds: small valid and broken jet files (tests/fuzz/make_seeds.py).
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jetcnn/data.h"
#include "jetcnn/h5io.h"

static char g_path[64];

static void finish(void) {
  unlink(g_path);
  int done = 0;
  MPI_Finalized(&done);
  if (!done) MPI_Finalize();
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  MPI_Init(argc, argv);
  MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN);
  h5io_init();
  snprintf(g_path, sizeof g_path, "/tmp/fuzz_h5input.%ld.h5", (long)getpid());
  atexit(finish);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  FILE *f = fopen(g_path, "wb");
  if (!f) return 0;
  size_t written = fwrite(data, 1, size, f);
  if (fclose(f) != 0 || written != size) return 0;
  jc_err err;
  jc_err_clear(&err);
  jc_data *d = NULL;
  const jc_shape shape = {1, 8, 8}; /* C, H, W */
  jc_code rc = data_open(g_path, shape, 2, MPI_COMM_SELF, &d, &err);
  if (rc == JC_OK && d->n <= 4096) {
    float *x = malloc(d->n * shape_size(shape) * sizeof *x);
    if (x) rc = data_read(d, 0, d->n, x, &err);
    free(x);
  }
  if (rc != JC_OK && err.msg[0] == '\0') {
    fprintf(stderr, "fuzz_h5input: error %d without a message\n", (int)rc);
    abort();
  }
  data_close(&d);
  return 0;
}
