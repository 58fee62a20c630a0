/* jetfile_preflight.c - what each rank checks on its own before the collective open or create of
 * a jet file (see jetfile.h): HDF5 opens and creates files collectively, and a rank that
 * cannot take part (its node lacks the input, the output directory, the space) would leave
 * the others waiting in MPI_File_open. The callers agree on the outcome first. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "jetcnn/jetfile.h"

/* Per jet, generously (measured on `generate`'s jets at the default storage: docs/formats.md):
 * each non-padding constituent costs at most its 16 raw bytes and generated jets average
 * about 50 of them, counted here as up to 64; each image channel at most 8 bytes for each of
 * up to 64 lit pixels; zero runs (padding rows, empty pixels) a 64th of their raw size; the
 * nine per-jet numbers their raw 40 bytes. */
#define EST_CONSTITUENT_ROWS 64
#define EST_LIT_PIXELS 64
#define EST_ZERO_RATIO 64
#define EST_FIXED_BYTES (64u << 20) /* HDF5 metadata: chunk indexes, headers */

hsize_t jetfile_estimate_bytes(const jetfile_layout *l, hsize_t n_jets) {
  double per_jet = 40.0;
  if (l->n_const > 0) {
    double rows = l->n_const < EST_CONSTITUENT_ROWS ? l->n_const : EST_CONSTITUENT_ROWS;
    per_jet += 16.0 * rows + 16.0 * l->n_const / EST_ZERO_RATIO;
    if (l->has_charged) per_jet += rows + (double)l->n_const / EST_ZERO_RATIO;
  }
  if (l->pixels > 0) {
    double pixels = (double)l->pixels * (double)l->pixels;
    per_jet += l->channels * (8.0 * (pixels < EST_LIT_PIXELS ? pixels : EST_LIT_PIXELS) + 4.0 * pixels / EST_ZERO_RATIO);
  }
  return (hsize_t)(per_jet * (double)n_jets) + EST_FIXED_BYTES;
}

jc_code jetfile_check_output(const char *path, const jetfile_layout *l, hsize_t n_jets, jc_err *err) {
  char dir[H5IO_PATH_MAX];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (!slash) snprintf(dir, sizeof dir, ".");
  else if (slash == dir) dir[1] = '\0';
  else *slash = '\0';
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
    return jc_fail(err, JC_ERR_IO, "%s: is a directory; --out names the file to write", path);
  if (stat(dir, &st) != 0) return jc_fail(err, JC_ERR_IO, "%s: cannot write into %s: %s", path, dir, strerror(errno));
  if (!S_ISDIR(st.st_mode)) return jc_fail(err, JC_ERR_IO, "%s: cannot write into %s: not a directory", path, dir);
  if (access(dir, W_OK | X_OK) != 0)
    return jc_fail(err, JC_ERR_IO, "%s: cannot write into %s: %s", path, dir, strerror(errno));
  struct statvfs fs;
  if (statvfs(dir, &fs) != 0)
    return jc_fail(err, JC_ERR_IO, "%s: cannot tell the free space of %s: %s", path, dir, strerror(errno));
  double need = (double)jetfile_estimate_bytes(l, n_jets), have = (double)fs.f_bavail * (double)fs.f_frsize;
  if (need > have)
    return jc_fail(err, JC_ERR_IO,
                   "%s: %llu jets need about %.1f GB (a generous estimate of the compressed file) but %s has %.1f GB "
                   "free",
                   path, (unsigned long long)n_jets, need * 1e-9, dir, have * 1e-9);
  return JC_OK;
}
