/* test_produce.c - the write loop of generate and images (produce.h) under MPI (run with 1 and
 * 2 ranks by tests/generate.cmake): the events it reports (rank 0 only, in order, with the
 * counts the file holds), the temporary-file hook, images made from a generated file equal to
 * the generated images, and a stop flag set on one rank (before the first round, or by the
 * report callback in the middle of the run) stopping every rank with the same message and
 * leaving neither the file nor its .tmp.
 *
 * usage: test_produce DIR
 */
#include <hdf5.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gen_check.h"
#include "jetcnn/dist.h"
#include "jetcnn/h5io.h"
#include "jetcnn/produce.h"

#define N_JETS 2100ULL
#define MAX_EVENTS 64

/* What one call reported, on this rank. */
typedef struct {
  int n;
  produce_event ev[MAX_EVENTS];
  volatile sig_atomic_t stop;
  int stop_at_progress; /* set stop to SIGINT at the first PROGRESS event */
} record;

static void on_event(const produce_event *ev, void *arg) {
  record *r = arg;
  if (r->n < MAX_EVENTS) r->ev[r->n++] = *ev;
  if (ev->kind == PRODUCE_EV_PROGRESS && r->stop_at_progress) r->stop = SIGINT;
}

/* The tmp_file hook's calls: their number, the first path, whether the last was NULL. */
static int tmp_calls;
static char tmp_first[4200];
static int tmp_last_null;
static void on_tmp(const char *path) {
  if (tmp_calls++ == 0) snprintf(tmp_first, sizeof tmp_first, "%s", path ? path : "(null)");
  tmp_last_null = path == NULL;
}

static produce_opts opts_for(record *r) {
  memset(r, 0, sizeof *r);
  tmp_calls = 0;
  tmp_first[0] = '\0';
  tmp_last_null = 0;
  return (produce_opts){&r->stop, on_tmp, on_event, r};
}

static int exists(const char *path) { return access(path, F_OK) == 0; }

/* The hook saw PATH.tmp, then NULL; neither PATH.tmp nor (unless kept) PATH is left, once
 * every rank has returned (rank 0 removes or renames the file, maybe after the others return). */
static void check_files(const char *what, const char *path, int kept, MPI_Comm comm) {
  char tmp[4200];
  MPI_Barrier(comm);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  CHECK(tmp_calls == 2 && strcmp(tmp_first, tmp) == 0 && tmp_last_null,
        "%s: tmp_file hook called %d times, first with '%s', last with NULL: %d", what, tmp_calls, tmp_first,
        tmp_last_null);
  CHECK(!exists(tmp), "%s: %s left behind", what, tmp);
  CHECK(exists(path) == kept, "%s: %s %s", what, path, kept ? "missing" : "written although stopped");
}

/* A complete run's events on rank 0: START, PROGRESS with growing counts below n, DONE with
 * n jets of which `tops` are tops; none on other ranks. */
static void check_events(const char *what, const record *r, const char *out, int n_const, unsigned long long tops,
                         MPI_Comm comm) {
  if (dist_rank(comm) != 0) {
    CHECK(r->n == 0, "%s: %d events on rank %d", what, r->n, dist_rank(comm));
    return;
  }
  CHECK(r->n >= 2 && r->ev[0].kind == PRODUCE_EV_START && r->ev[r->n - 1].kind == PRODUCE_EV_DONE,
        "%s: %d events, not START ... DONE", what, r->n);
  if (r->n < 2) return;
  const produce_event *s = &r->ev[0], *d = &r->ev[r->n - 1];
  CHECK(strcmp(s->out, out) == 0 && s->n_jets == N_JETS && s->ranks == dist_size(comm) && s->n_const == n_const &&
            s->max_bytes > 0.0,
        "%s: START says %s, %llu jets, %d ranks, %d constituents, %g bytes", what, s->out, s->n_jets, s->ranks,
        s->n_const, s->max_bytes);
  unsigned long long last = 0;
  for (int i = 1; i < r->n - 1; i++) {
    CHECK(r->ev[i].kind == PRODUCE_EV_PROGRESS && r->ev[i].done > last && r->ev[i].done < N_JETS,
          "%s: event %d: kind %d, %llu jets done after %llu", what, i, (int)r->ev[i].kind, r->ev[i].done, last);
    last = r->ev[i].done;
  }
  CHECK(r->n >= 3, "%s: no PROGRESS event in %llu jets", what, N_JETS);
  CHECK(d->done == N_JETS && d->tops == tops && d->seconds >= d->make_seconds && d->make_seconds >= 0.0,
        "%s: DONE says %llu jets, %llu tops (the file: %llu), %g s of which %g making rows", what, d->done, d->tops,
        tops, d->seconds, d->make_seconds);
}

/* Every rank returned JC_ERR_RUNTIME with exactly `want`. */
static void check_stopped(const char *what, jc_code rc, const jc_err *err, const char *want) {
  CHECK(rc == JC_ERR_RUNTIME && strcmp(err->msg, want) == 0, "%s: code %d, message '%s'; expected 1, '%s'", what,
        (int)rc, err->msg, want);
}

/* Dataset name of path as floats (caller frees), n values. */
static float *read_floats(const char *path, const char *name, size_t n) {
  float *x = calloc(n, sizeof *x);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t d = f >= 0 ? H5Dopen2(f, name, H5P_DEFAULT) : H5I_INVALID_HID;
  hid_t sp = d >= 0 ? H5Dget_space(d) : H5I_INVALID_HID;
  int ok = x && sp >= 0 && (size_t)H5Sget_simple_extent_npoints(sp) == n &&
           H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) >= 0;
  CHECK(ok, "%s: cannot read %zu values of %s", path, n, name);
  if (sp >= 0) H5Sclose(sp);
  if (d >= 0) H5Dclose(d);
  if (f >= 0) H5Fclose(f);
  if (!ok) {
    free(x);
    return NULL;
  }
  return x;
}

static unsigned long long count_tops(const char *path) {
  float *labels = read_floats(path, "/labels", N_JETS);
  unsigned long long tops = 0;
  for (size_t i = 0; labels && i < N_JETS; i++) tops += labels[i] == 1.0f;
  free(labels);
  return tops;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm comm = MPI_COMM_WORLD;
  const int rank = dist_rank(comm), size = dist_size(comm);
  h5io_init();
  if (argc != 2) {
    fprintf(stderr, "usage: test_produce DIR\n");
    MPI_Abort(comm, 2);
  }
  char gen_path[4096], img_path[4096], stop_path[4096], want[8192];
  snprintf(gen_path, sizeof gen_path, "%s/produce_np%d.h5", argv[1], size);
  snprintf(img_path, sizeof img_path, "%s/produce_images_np%d.h5", argv[1], size);
  snprintf(stop_path, sizeof stop_path, "%s/produce_stopped_np%d.h5", argv[1], size);
  if (rank == 0) { /* a stopped run must leave OUT as it was: start without one */
    unlink(gen_path);
    unlink(img_path);
    unlink(stop_path);
  }
  MPI_Barrier(comm);
  jetimage_params image = jetimage_defaults();
  image.pixels = 8; /* small and fast */
  record r;
  jc_err err;

  /* generate: a complete file */
  produce_opts o = opts_for(&r);
  produce_generate_job gen = {gen_path, N_JETS, {7, 0.5}, 1, image};
  jc_err_clear(&err);
  jc_code rc = produce_generate(&gen, &o, comm, &err);
  if (rc != JC_OK) {
    fprintf(stderr, "FAIL: produce_generate: %s\n", err.msg);
    MPI_Abort(comm, 1);
  }
  check_files("generate", gen_path, 1, comm);
  unsigned long long tops = rank == 0 ? count_tops(gen_path) : 0;
  check_events("generate", &r, gen_path, PRODUCE_N_CONSTITUENTS, tops, comm);
  CHECK(rank != 0 || (tops > N_JETS / 4 && tops < 3 * N_JETS / 4), "generate: %llu tops of %llu jets", tops, N_JETS);

  /* images of the generated constituents: the generated images */
  o = opts_for(&r);
  produce_images_job img = {gen_path, img_path, 0, image};
  jc_err_clear(&err);
  rc = produce_images(&img, &o, comm, &err);
  if (rc != JC_OK) {
    fprintf(stderr, "FAIL: produce_images: %s\n", err.msg);
    MPI_Abort(comm, 1);
  }
  check_files("images", img_path, 1, comm);
  check_events("images", &r, img_path, PRODUCE_N_CONSTITUENTS, tops, comm);
  if (rank == 0) {
    size_t n = N_JETS * 8 * 8;
    float *a = read_floats(gen_path, "/images", n), *b = read_floats(img_path, "/images", n);
    size_t bad = 0;
    for (size_t i = 0; a && b && i < n; i++) bad += a[i] != b[i];
    CHECK(a && b && bad == 0, "images: %zu of %zu pixels differ from generate's", bad, n);
    free(a);
    free(b);
  }

  /* a stop flag set on the last rank only, before the first round */
  o = opts_for(&r);
  if (rank == size - 1) r.stop = SIGTERM;
  gen.out = stop_path;
  jc_err_clear(&err);
  rc = produce_generate(&gen, &o, comm, &err);
  snprintf(want, sizeof want, "generate: stopped by SIGTERM after 0 of %llu jets; %s was not written", N_JETS,
           stop_path);
  check_stopped("generate, SIGTERM on the last rank", rc, &err, want);
  check_files("generate, SIGTERM on the last rank", stop_path, 0, comm);
  CHECK(r.n == (rank == 0), "generate, stopped: %d events on rank %d (only START expected, on rank 0)", r.n, rank);

  /* ... and by rank 0's report callback at the first progress event */
  o = opts_for(&r);
  r.stop_at_progress = 1;
  img.out = stop_path;
  jc_err_clear(&err);
  rc = produce_images(&img, &o, comm, &err);
  unsigned long long done = r.n >= 2 ? r.ev[1].done : 0;
  MPI_Bcast(&done, 1, MPI_UNSIGNED_LONG_LONG, 0, comm);
  snprintf(want, sizeof want, "images: stopped by SIGINT after %llu of %llu jets; %s was not written", done, N_JETS,
           stop_path);
  check_stopped("images, SIGINT on rank 0 in the middle", rc, &err, want);
  CHECK(done > 0, "images, stopped in the middle: no progress event before the stop");
  check_files("images, SIGINT on rank 0 in the middle", stop_path, 0, comm);

  int mine = failures, all = 0;
  MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_SUM, comm);
  failures = all;
  int code = rank == 0 ? check_report("test_produce") : (all ? 1 : 0);
  MPI_Finalize();
  return code;
}
