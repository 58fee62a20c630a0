/* produce.h - write a whole jet file (docs/formats.md, "Jet files") in parallel: synthetic jets
 * from the generator (produce_generate, `jetcnn generate`) or the images of the jets of a
 * constituents file (produce_images, `jetcnn images`).
 *
 * Both run one loop (src/generate/produce.c). The output is created as OUT.tmp; each rank owns
 * whole chunks of rows (jetfile_rank_rows) and makes and writes them in rounds of at most
 * JETFILE_ROUND_ROWS rows:
 *   make the rows   gen_jets(), or jetfile_read_block() + jetfile_check_block() (collective);
 *                   then jetfile_derive(): observables and images
 *   stop?           collective: if any rank's stop flag is set, every rank stops here
 *   write           jetfile_write_block() (collective)
 *   progress        collective count of the jets written; an event every tenth of the file
 * then OUT.tmp is renamed to OUT (jetfile_commit). On any failure, or a stop, OUT.tmp is
 * removed and OUT left as it was.
 */
#ifndef JETCNN_PRODUCE_H
#define JETCNN_PRODUCE_H

#include <mpi.h>
#include <signal.h>

#include "jetcnn/error.h"
#include "jetcnn/generate.h"
#include "jetcnn/jetimage.h"

/* Constituents per generated jet (as in the Top Tagging reference dataset). */
#define PRODUCE_N_CONSTITUENTS 200

/* What produce_generate() and produce_images() tell their caller (on rank 0 only; the library
 * prints nothing itself). */
typedef enum {
  PRODUCE_EV_START,    /* OUT.tmp exists and is described; the rounds begin */
  PRODUCE_EV_PROGRESS, /* at least another tenth of the jets is written (not sent for the last rows) */
  PRODUCE_EV_DONE      /* every jet is written; OUT.tmp is renamed next */
} produce_event_kind;

typedef struct {
  produce_event_kind kind;
  const char *out;           /* the output's final name */
  unsigned long long n_jets; /* jets of the file */
  int ranks;
  int n_const;               /* constituents per jet made (generate) or read (images) */
  double max_bytes;          /* jetfile_estimate_bytes() of the output */
  unsigned long long done;   /* PROGRESS, DONE: jets written by all ranks */
  double seconds;            /* PROGRESS, DONE: since the rounds began */
  unsigned long long tops;   /* DONE: jets with label 1 */
  double make_seconds;       /* DONE: rank 0's seconds in making rows (generator or reading, observables,
                              * images); the rest of `seconds` went into writing and waiting */
} produce_event;

/* Receives the events; ev is borrowed for the call. */
typedef void (*produce_report)(const produce_event *ev, void *arg);

typedef struct {
  const volatile sig_atomic_t *stop; /* set (to a signal number) by a signal handler, or NULL: every
                          * rank stops in the same round and the call fails with JC_ERR_RUNTIME,
                          * "NAME: stopped by SIGTERM after D of N jets; OUT was not written" */
  void (*tmp_file)(const char *tmp_path); /* or NULL; on every rank: called with OUT.tmp's name
                          * once it exists, and with NULL before it is renamed or removed, so that
                          * a signal handler can remove it at once (the ranks write on into the
                          * unlinked file until they agree to stop). No arg: a signal handler's
                          * state is global anyway. */
  produce_report report;  /* progress and counts (rank 0), or NULL */
  void *report_arg;       /* passed to report */
} produce_opts;

typedef struct {
  const char *out;           /* the file to write */
  unsigned long long n_jets; /* >= 1 */
  gen_config gen;            /* seed and signal fraction */
  int images;                /* 0: constituents and observables only, no /images */
  jetimage_params image;     /* how /images is made (its attributes say so) */
} produce_generate_job;

/* Generate job->n_jets jets (PRODUCE_N_CONSTITUENTS constituents each) with their observables
 * and images into job->out, with the root attributes generator, seed and signal_fraction.
 * Jet i depends only on (seed, i): the datasets are the same for any number of ranks and
 * threads. Collective on comm; every rank passes the same job. Fails (on every rank, with
 * the same message) when the output cannot be written (jetfile_create), and on a stop. */
jc_code produce_generate(const produce_generate_job *job, const produce_opts *opts, MPI_Comm comm, jc_err *err);

typedef struct {
  const char *in;        /* constituents file (jetfile_open); every rank's copy must have rank 0's
                          * content: check it first with agree_h5_input(PRODUCE_IMAGES_INPUT) */
  const char *out;       /* the file to write */
  int keep_constituents; /* 1: copy /constituents (and /charged) into the output too */
  jetimage_params image;
} produce_images_job;

/* The datasets of a constituents file (NULL-terminated), for agree_h5_input(). */
extern const char *const PRODUCE_IMAGES_INPUT[];

/* Read the jets of job->in, check every block (finite momenta, 0/1 labels: JC_ERR_DATA naming
 * the file row), and write their images, labels and observables into job->out. Collective
 * on comm. JC_ERR_DATA also for --channels color on an input without /charged. */
jc_code produce_images(const produce_images_job *job, const produce_opts *opts, MPI_Comm comm, jc_err *err);

/* Process-wide, for the main program to decide (call before producing): keep the large
 * buffers HDF5's filters allocate for every chunk on the heap (glibc: raise the mmap and trim
 * thresholds) instead of mapping fresh zeroed pages each time; a no-op elsewhere. */
void produce_keep_chunk_buffers(void);

#endif
