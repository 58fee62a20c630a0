/* agree.h - start-up agreement across ranks: the same command line, the same effective config,
 * inputs with the same content.
 *
 * Ranks given different inputs must not hang (a missing file on one node leaves the others in
 * the collective open; a shorter file, in the first reduction of a step the others never
 * reach) nor train different things silently (another --set on one rank). Before the first
 * collective that depends on them, every rank compares what it was given with rank 0's. Paths
 * and inodes may differ between nodes (node-local copies): inputs are compared by content.
 * Every function is collective on comm; when something differs, every rank returns the same
 * error, whose message names the lowest differing rank, its host and the first difference.
 */
#ifndef JETCNN_AGREE_H
#define JETCNN_AGREE_H

#include <mpi.h>

#include "jetcnn/config.h"
#include "jetcnn/error.h"

/* Agree on text (lines separated by '\n'). First local_rc is agreed as dist_agree() does (a
 * rank's own failure, e.g. a config it could not read, wins). Then a rank whose text differs
 * from rank 0's fails with `code` and the message
 *   "rank R (host): WHAT differs from rank 0's: 'LINE' here, 'LINE' on rank 0"
 * naming the first differing line (after the "[section]" header it belongs to, if any).
 * what is this rank's description of the text ("the config after --set"). */
jc_code agree_text(MPI_Comm comm, const char *what, const char *text, jc_code local_rc, jc_code code, jc_err *err);

/* Agree on the effective config (config_to_text(): the file with --set overrides applied);
 * local_rc as for agree_text(). Differences fail with JC_ERR_USAGE. */
jc_code agree_config(MPI_Comm comm, const jc_config *cfg, jc_code local_rc, jc_err *err);

/* Agree on an HDF5 input by content. Each rank opens its own `path` alone and describes, for
 * each name in `datasets` (NULL-terminated), its type, shape and chunking, and for each name
 * in `hashed` (NULL-terminated, or NULL) also a 64-bit hash of its values read as int64 (the
 * labels). A dataset that is missing is described as such: the reader that follows names the
 * problem. A file this rank cannot open fails with JC_ERR_DATA naming the path; differences
 * fail with JC_ERR_DATA. role names the input in messages ("--train"). */
jc_code agree_h5_input(MPI_Comm comm, const char *role, const char *path, const char *const *datasets,
                       const char *const *hashed, jc_err *err);

/* Agree on a file by its bytes (size and a 64-bit hash of all of them): for checkpoints,
 * which are small. Failures and differences are JC_ERR_DATA. */
jc_code agree_file(MPI_Comm comm, const char *role, const char *path, jc_err *err);

/* The datasets of a training or scoring input (docs/formats.md): /images, /labels. */
extern const char *const AGREE_IMAGE_DATASETS[];
/* The datasets whose values are hashed: /labels. */
extern const char *const AGREE_LABELS[];

#endif
