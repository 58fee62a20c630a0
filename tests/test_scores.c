/* test_scores.c - the scores file module (src/scores.c), under any number of ranks: every rank
 * writes its share of rows with scores_writer_*, rank 0 reads the file back with scores_open()
 * and scores_read_column(), and scores_same_jets() accepts the same jets and refuses a file
 * that differs in its number of jets, a label, a pass-through value or a dataset, naming the
 * file and the first differing jet. A failing check calls MPI_Abort.
 *
 * usage: test_scores DIR      (DIR: an existing directory for the files) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jetcnn/dist.h"
#include "jetcnn/h5io.h"
#include "jetcnn/scores.h"

#include "gen_check.h"


enum { N = 1001, K = 3 };

/* Jet i of the reference file: score, label, jet_mass, n_constituents, probs. */
static float score_of(size_t i) { return (float)((i * 7919) % 1000) / 1000.0f; }
static int32_t label_of(size_t i) { return (int32_t)((i * 31) % 3 == 0); }
static float mass_of(size_t i) { return 20.0f + 0.25f * (float)i; }
static int64_t count_of(size_t i) { return (int64_t)(i % 57) + 1; }

/* What to change in a written file. */
typedef struct {
  size_t n;          /* jets */
  long bad_label;    /* flip the label of this jet (-1: none) */
  long bad_mass;     /* change the jet_mass of this jet (-1: none) */
  long bad_count;    /* change n_constituents of this jet (-1: none) */
  int no_count;      /* leave out n_constituents */
} variant;

/* Write a scores file with every rank its share; returns the agreed code. bytes: the space to
 * reserve (1 MiB: every rank writes its rows; 0: they are gathered and rank 0 writes). */
static jc_code write_file(const char *path, variant v, size_t bytes, MPI_Comm comm, jc_err *err) {
  const int rank = dist_rank(comm), size = dist_size(comm);
  size_t lo = v.n * (size_t)rank / (size_t)size, hi = v.n * (size_t)(rank + 1) / (size_t)size, m = hi - lo;
  float *score = malloc((m + 1) * sizeof *score), *mass = malloc((m + 1) * sizeof *mass);
  float *probs = malloc((m * K + 1) * sizeof *probs);
  int32_t *label = malloc((m + 1) * sizeof *label);
  int64_t *count = malloc((m + 1) * sizeof *count);
  for (size_t i = lo; i < hi; i++) {
    score[i - lo] = score_of(i);
    label[i - lo] = label_of(i) ^ ((long)i == v.bad_label);
    mass[i - lo] = mass_of(i) + ((long)i == v.bad_mass ? 0.5f : 0.0f);
    count[i - lo] = count_of(i) + ((long)i == v.bad_count);
    for (int k = 0; k < K; k++) probs[(i - lo) * K + k] = (float)k;
  }
  scores_writer *w = scores_writer_create(path, v.n, bytes, comm, err);
  jc_code rc = w ? JC_OK : err->code;
  if (rc == JC_OK) rc = scores_writer_column(w, "score", SCORES_FLOAT32, 1, lo, hi, score, err);
  if (rc == JC_OK) rc = scores_writer_column(w, "label", SCORES_INT32, 1, lo, hi, label, err);
  if (rc == JC_OK) rc = scores_writer_column(w, "probs", SCORES_FLOAT32, K, lo, hi, probs, err);
  if (rc == JC_OK) rc = scores_writer_column(w, "jet_mass", SCORES_FLOAT32, 1, lo, hi, mass, err);
  if (rc == JC_OK && !v.no_count) rc = scores_writer_column(w, "n_constituents", SCORES_INT64, 1, lo, hi, count, err);
  if (rc == JC_OK) rc = scores_writer_commit(&w, "jets.h5", K, err);
  else scores_writer_abandon(&w);
  free(score);
  free(mass);
  free(probs);
  free(label);
  free(count);
  return rc;
}

/* Rank 0: the reference file reads back as written. */
static void check_read(const char *path) {
  jc_err err;
  jc_err_clear(&err);
  scores_file f;
  CHECK(scores_open(path, &f, &err) == JC_OK, "open %s: %s", path, err.msg);
  if (err.code != JC_OK) return;
  CHECK(f.n == N, "%zu jets, expected %d", f.n, N);
  int bad = 0;
  for (size_t i = 0; i < f.n; i++) bad += f.score[i] != score_of(i) || f.label[i] != label_of(i);
  CHECK(bad == 0, "%d jets read back wrong", bad);
  float *mass = scores_read_column(&f, "jet_mass", &err);
  CHECK(mass != NULL, "jet_mass: %s", err.msg);
  for (size_t i = 0; mass && i < f.n; i++) bad += mass[i] != mass_of(i);
  CHECK(bad == 0, "%d masses read back wrong", bad);
  free(mass);
  CHECK(scores_has_column(&f, "/n_constituents") && scores_has_column(&f, "jet_mass") && !scores_has_column(&f, "jet_pt"),
        "scores_has_column");
  jc_err_clear(&err);
  CHECK(scores_read_column(&f, "jet_pt", &err) == NULL && strstr(err.msg, "jet_pt") && strstr(err.msg, path),
        "missing column: '%s'", err.msg);
  jc_err_clear(&err);
  CHECK(scores_read_column(&f, "n_constituents", &err) == NULL && strstr(err.msg, "floating-point"),
        "an integer column read as observable: '%s'", err.msg);
  char *fmt = h5io_read_attr_str(f.file, "format", &err);
  CHECK(fmt && strcmp(fmt, SCORES_FORMAT) == 0, "format attribute '%s'", fmt ? fmt : "(none)");
  free(fmt);
  scores_close(&f);
  scores_close(&f); /* twice is harmless */
}

/* Rank 0: scores_same_jets(reference, other) fails naming other and `words`, or passes. */
static void check_same(const char *ref, const char *other, const char *words) {
  jc_err err;
  jc_err_clear(&err);
  scores_file a, b;
  if (scores_open(ref, &a, &err) != JC_OK || scores_open(other, &b, &err) != JC_OK) {
    CHECK(0, "open: %s", err.msg);
    return;
  }
  jc_code rc = scores_same_jets(&a, &b, &err);
  if (!words) {
    CHECK(rc == JC_OK, "%s: same jets refused: %s", other, err.msg);
  } else {
    CHECK(rc == JC_ERR_DATA, "%s: different jets accepted", other);
    CHECK(strstr(err.msg, other) == err.msg && strstr(err.msg, words), "%s: message '%s' lacks '%s'", other, err.msg, words);
  }
  scores_close(&a);
  scores_close(&b);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm comm = MPI_COMM_WORLD;
  MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
  h5io_init();
  const int rank = dist_rank(comm);
  if (argc != 2) {
    if (rank == 0) fprintf(stderr, "usage: test_scores DIR\n");
    MPI_Abort(comm, 2);
  }
  char path[6][600];
  const char *names[6] = {"ref.h5", "same.h5", "short.h5", "label.h5", "mass.h5", "count.h5"};
  for (int k = 0; k < 6; k++) snprintf(path[k], sizeof path[k], "%s/%s", argv[1], names[k]);
  variant base = {N, -1, -1, -1, 0};
  variant vs[6] = {base, base, base, base, base, base};
  vs[2].n = N - 1;
  vs[3].bad_label = 500;
  vs[4].bad_mass = 17;
  vs[5].bad_count = 999;
  jc_err err;
  jc_err_clear(&err);
  /* odd files gathered to rank 0, even ones written by every rank: ref and same must agree */
  for (int k = 0; k < 6; k++)
    CHECK(write_file(path[k], vs[k], k % 2 ? 0 : 1u << 20, comm, &err) == JC_OK, "write %s: %s", path[k], err.msg);
  char nocount[600];
  snprintf(nocount, sizeof nocount, "%s/nocount.h5", argv[1]);
  variant v = base;
  v.no_count = 1;
  CHECK(write_file(nocount, v, 1u << 20, comm, &err) == JC_OK, "write %s: %s", nocount, err.msg);
  /* a file that cannot be created: every rank gets the error */
  char bad[600];
  snprintf(bad, sizeof bad, "%s/no/such/dir.h5", argv[1]);
  for (size_t bytes = 0; bytes <= 1; bytes++) {
    jc_err_clear(&err);
    CHECK(write_file(bad, base, bytes << 20, comm, &err) == JC_ERR_IO && strstr(err.msg, "no/such/dir.h5"), "rank %d: '%s'",
          rank, err.msg);
  }
  if (rank == 0) {
    check_read(path[0]);
    check_same(path[0], path[1], NULL);
    check_same(path[0], path[2], "1000 jets here, 1001 there");
    check_same(path[0], path[3], "jet 500: /label is");
    check_same(path[0], path[4], "jet 17: /jet_mass is 24.75 here, 24.25 there");
    check_same(path[0], path[5], "jet 999: /n_constituents is 32 here, 31 there");
    check_same(path[0], nocount, "dataset /n_constituents is only in");
    check_same(nocount, path[0], "dataset /n_constituents is only in");
  }
  MPI_Allreduce(MPI_IN_PLACE, &failures, 1, MPI_INT, MPI_SUM, comm);
  if (rank == 0) check_report("test_scores");
  if (failures) MPI_Abort(comm, 1);
  MPI_Finalize();
  return 0;
}
