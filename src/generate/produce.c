/* produce.c - the write loop of generate and images: rounds of make rows, agree on a stop,
 * write, count (see produce.h). */
#include "jetcnn/produce.h"

#include <stdio.h>
#include <string.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "jetcnn/dist.h"
#include "jetcnn/jetfile.h"

const char *const PRODUCE_IMAGES_INPUT[] = {"constituents", "charged", "labels", NULL};

/* Where the rows come from: the generator (gen) or a constituents file (in). */
typedef struct {
  const char *name;                  /* "generate" or "images": how error messages start */
  const produce_generate_job *gen;   /* or NULL */
  jetfile_reader *in;                /* or NULL */
  const jetimage_params *image;
  const produce_opts *opts;
} source;

static const char *signal_name(int sig) {
  return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP" : "a signal";
}

static int stop_flag(const source *s) { return s->opts->stop ? (int)*s->opts->stop : 0; }

static void report(const source *s, const produce_event *ev, MPI_Comm comm) {
  if (s->opts->report && dist_rank(comm) == 0) s->opts->report(ev, s->opts->report_arg);
}

/* Rows [0, n) of b for file rows [start, start + n). Collective (the reader's is). A rank that
 * is stopping skips its own work: the round's stop agreement comes before any write. */
static jc_code make_rows(const source *s, hsize_t start, int n, jetfile_block *b, MPI_Comm comm, jc_err *err) {
  const int stopping = stop_flag(s) != 0;
  if (s->in) {
    jc_code rc = jetfile_read_block(s->in, start, n, b, err);
    if (rc == JC_OK) rc = jetfile_check_block(b, n, s->in->path, start, err);
    JC_TRY(dist_agree(comm, rc, err));
  } else if (!stopping) {
    gen_jets(&s->gen->gen, start, n, PRODUCE_N_CONSTITUENTS, b->constituents, b->charged, b->labels);
  }
  if (!stopping) jetfile_derive(b, n, s->image);
  return JC_OK;
}

/* Collective: *sig = the highest stop signal any rank has received (0: none). */
static jc_code agree_stop(const source *s, MPI_Comm comm, int *sig, jc_err *err) {
  int mine = stop_flag(s);
  if (MPI_Allreduce(&mine, sig, 1, MPI_INT, MPI_MAX, comm) != MPI_SUCCESS)
    return jc_fail(err, JC_ERR_RUNTIME, "%s: MPI_Allreduce of the stop flag failed", s->name);
  return JC_OK;
}

/* The rounds; ev arrives as the START event and is reused for the others. */
static jc_code write_rounds(const source *s, jetfile_writer *w, jetfile_block *b, produce_event *ev, MPI_Comm comm,
                            jc_err *err) {
  const unsigned long long total = (unsigned long long)w->n_jets;
  hsize_t row0, n_rows;
  jetfile_rank_rows(w->n_jets, w->storage.chunk_rows, dist_rank(comm), dist_size(comm), &row0, &n_rows);
  const hsize_t rounds = jetfile_rounds(w->n_jets, w->storage.chunk_rows, dist_size(comm));
  const double t0 = MPI_Wtime();
  unsigned long long mine = 0, tops = 0, done = 0, next_report = total / 10;
  double t_make = 0.0;
  for (hsize_t round = 0; round < rounds; round++) {
    hsize_t start;
    int n = jetfile_round_rows(row0, n_rows, round, &start), sig;
    double t1 = MPI_Wtime();
    JC_TRY(make_rows(s, start, n, b, comm, err));
    t_make += MPI_Wtime() - t1;
    JC_TRY(agree_stop(s, comm, &sig, err));
    if (sig > 0)
      return jc_fail(err, JC_ERR_RUNTIME, "%s: stopped by %s after %llu of %llu jets; %s was not written", s->name,
                     signal_name(sig), done, total, w->path);
    JC_TRY(jetfile_write_block(w, start, n, b, err));
    mine += (unsigned long long)n;
    for (int i = 0; i < n; i++) tops += (unsigned long long)b->labels[i];
    if (MPI_Allreduce(&mine, &done, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, comm) != MPI_SUCCESS)
      return jc_fail(err, JC_ERR_RUNTIME, "%s: MPI_Allreduce of progress failed", s->name);
    if (done >= next_report && done < total) {
      ev->kind = PRODUCE_EV_PROGRESS;
      ev->done = done;
      ev->seconds = MPI_Wtime() - t0;
      report(s, ev, comm);
      next_report = done + total / 10;
    }
  }
  if (MPI_Allreduce(&tops, &ev->tops, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, comm) != MPI_SUCCESS)
    return jc_fail(err, JC_ERR_RUNTIME, "%s: MPI_Allreduce of counts failed", s->name);
  ev->kind = PRODUCE_EV_DONE;
  ev->done = done;
  ev->seconds = MPI_Wtime() - t0;
  ev->make_seconds = t_make;
  report(s, ev, comm);
  return JC_OK;
}

/* The root attributes of a generated file, and those of /images. */
static jc_code describe(const source *s, jetfile_writer *w, jc_err *err) {
  if (s->gen) {
    JC_TRY(h5io_write_attr_str(w->file, "generator", "jetcnn generate " JETCNN_VERSION " (docs/physics.md)", err));
    JC_TRY(jetfile_attr_long(w->file, "seed", (long long)s->gen->gen.seed, err));
    JC_TRY(jetfile_attr_double(w->file, "signal_fraction", s->gen->gen.signal_fraction, err));
  }
  return jetfile_describe_images(w, s->image, err);
}

/* Create OUT.tmp with `layout` for n_jets jets, fill it from s through b, and commit it (or
 * remove it). Collective. */
static jc_code produce(const source *s, const char *out, hsize_t n_jets, const jetfile_layout *layout, jetfile_block *b,
                       MPI_Comm comm, jc_err *err) {
  jetfile_writer w;
  JC_TRY(jetfile_create(&w, out, n_jets, layout, NULL, comm, err));
  char tmp[H5IO_PATH_MAX + 8];
  snprintf(tmp, sizeof tmp, "%s.tmp", out); /* h5io_create_tmp's name */
  if (s->opts->tmp_file) s->opts->tmp_file(tmp);
  jc_code rc = dist_agree(comm, describe(s, &w, err), err);
  if (rc == JC_OK) {
    produce_event ev = {.kind = PRODUCE_EV_START,
                        .out = out,
                        .n_jets = (unsigned long long)n_jets,
                        .ranks = dist_size(comm),
                        .n_const = b->layout.n_const,
                        .max_bytes = (double)jetfile_estimate_bytes(layout, n_jets)};
    report(s, &ev, comm);
    rc = write_rounds(s, &w, b, &ev, comm, err);
  }
  if (s->opts->tmp_file) s->opts->tmp_file(NULL);
  if (rc == JC_OK) rc = jetfile_commit(&w, err);
  else jetfile_abandon(&w);
  return rc;
}

jc_code produce_generate(const produce_generate_job *job, const produce_opts *opts, MPI_Comm comm, jc_err *err) {
  jetfile_layout layout = {PRODUCE_N_CONSTITUENTS, 1, job->images ? job->image.pixels : 0,
                           jetimage_n_channels(job->image.channels)};
  jetfile_block b;
  jc_code rc = dist_agree(comm, jetfile_block_alloc(&b, &layout, JETFILE_ROUND_ROWS, err), err);
  if (rc == JC_OK) {
    source s = {"generate", job, NULL, &job->image, opts};
    rc = produce(&s, job->out, job->n_jets, &layout, &b, comm, err);
  }
  jetfile_block_free(&b);
  return rc;
}

jc_code produce_images(const produce_images_job *job, const produce_opts *opts, MPI_Comm comm, jc_err *err) {
  const jetimage_params *image = &job->image;
  jetfile_reader r;
  JC_TRY(jetfile_open(&r, job->in, comm, err));
  jc_code rc = JC_OK;
  if (image->channels == JETIMAGE_COLOR && !r.has_charged)
    rc = jc_fail(err, JC_ERR_DATA, "%s: --channels color needs a /charged (N,M) dataset, which this file lacks",
                 job->in);
  const int keep = job->keep_constituents, channels = jetimage_n_channels(image->channels);
  jetfile_layout in_layout = {r.n_const, r.has_charged, image->pixels, channels};
  jetfile_layout out_layout = {keep ? r.n_const : 0, keep && r.has_charged, image->pixels, channels};
  jetfile_block b;
  memset(&b, 0, sizeof b);
  if (rc == JC_OK) rc = jetfile_block_alloc(&b, &in_layout, JETFILE_ROUND_ROWS, err);
  rc = dist_agree(comm, rc, err);
  if (rc == JC_OK) {
    source s = {"images", NULL, &r, image, opts};
    rc = produce(&s, job->out, r.n_jets, &out_layout, &b, comm, err);
  }
  jetfile_block_free(&b);
  jetfile_close(&r);
  return rc;
}

void produce_keep_chunk_buffers(void) {
#ifdef __GLIBC__
  /* shuffle + deflate allocate ~2 chunk-sized buffers (up to 1.6 MB) per chunk; above the
   * mmap threshold each is a fresh mapping, page-faulted in and unmapped again (5 % of the
   * CPU time of generate). The return values only say whether glibc took the hint. */
  (void)mallopt(M_MMAP_THRESHOLD, 64 << 20);
  (void)mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
}
