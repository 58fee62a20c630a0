/* atomic_file.h - write a plain file so that PATH holds either its old content or the complete
 * new one, never half a file; and refuse an output that is also an input.
 *
 * Writing (one process; call it on one rank):
 *
 *   atomic_file af;
 *   JC_TRY(atomic_file_open(&af, "runs/x/metrics.json", err));   creates runs/x/metrics.json.tmp
 *   fprintf(af.f, ...);                                           any stdio writes to af.f
 *   return atomic_file_commit(&af, err);                          or atomic_file_abandon(&af)
 *
 * atomic_file_commit() checks that every write succeeded (ferror), flushes, fsyncs and closes
 * PATH.tmp, renames it to PATH and fsyncs the directory, so that after a crash PATH is the old
 * or the new file. On any failure PATH is left as it was, PATH.tmp is removed and err says
 * what went wrong (JC_ERR_IO, naming the file). HDF5 outputs use h5io_create_tmp() and
 * h5io_commit() instead, which do the same for HDF5 files across ranks.
 *
 * Checking outputs against inputs (before anything is written):
 *
 *   const char *inputs[] = {scores_path, data_path};
 *   JC_TRY(atomic_file_refuse_input(out_path, inputs, 2, err));
 */
#ifndef JETCNN_ATOMIC_FILE_H
#define JETCNN_ATOMIC_FILE_H

#include <stddef.h>
#include <stdio.h>

#include "jetcnn/error.h"

#define ATOMIC_FILE_PATH_MAX 4096

typedef struct {
  FILE *f;                                /* write here between open and commit/abandon */
  char path[ATOMIC_FILE_PATH_MAX];        /* the final name */
  char tmp[ATOMIC_FILE_PATH_MAX + 4];     /* path + ".tmp" */
} atomic_file;

/* Create PATH.tmp for writing (a leftover PATH.tmp is truncated; a symbolic link there is
 * refused rather than followed) and fill *af. Fails with JC_ERR_IO naming PATH.tmp
 * (missing directory, permissions) or JC_ERR_USAGE for a path longer than
 * ATOMIC_FILE_PATH_MAX. On failure af->f is NULL and nothing needs to be abandoned. */
jc_code atomic_file_open(atomic_file *af, const char *path, jc_err *err);

/* Finish the file opened by atomic_file_open(): check, flush, fsync, close, rename PATH.tmp to
 * PATH, fsync the directory. af->f is NULL afterwards, whatever the outcome. On failure
 * (JC_ERR_IO, e.g. "PATH: write failed: No space left on device") PATH is untouched and
 * PATH.tmp removed. */
jc_code atomic_file_commit(atomic_file *af, jc_err *err);

/* Close and remove PATH.tmp without touching PATH (error paths). af->f is NULL afterwards;
 * a second call, or a call after a commit, does nothing. */
void atomic_file_abandon(atomic_file *af);

/* The whole of PATH in one call: atomic_file_open(), size bytes of data, atomic_file_commit(). */
jc_code atomic_file_write(const char *path, const void *data, size_t size, jc_err *err);

/* 1 if paths a and b name the same file: the same device and inode after following symbolic
 * links (so hard links and links to the file count), or, when one of them does not exist
 * yet, the same absolute name once the directories and any symbolic link at the path are
 * resolved. 0 otherwise, also when a name cannot be resolved at all. */
int atomic_file_same(const char *a, const char *b);

/* Refuse (JC_ERR_USAGE) an output that is the same file as one of n_inputs inputs, or whose
 * temporary name OUTPUT.tmp is: "OUTPUT: is the same file as the input INPUT; refusing to
 * overwrite an input". For every command that writes files it reads (atomic_file_same()). */
jc_code atomic_file_refuse_input(const char *output, const char *const *inputs, size_t n_inputs, jc_err *err);

#endif
