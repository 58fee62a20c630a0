/* prefetch.c - the input of each training step: this rank's blocks of the step, the next
 * step read by one background thread while the caller computes (see data.h).
 *
 * Only one thread is ever inside HDF5 or MPI: the reader thread reads only between
 * prefetch_start() and the caller's next prefetch_settle()/prefetch_take(), and the caller
 * makes no HDF5 or MPI call in between (MPI_THREAD_SERIALIZED is enough). */
#include <pthread.h>
#include <stdlib.h>

#include "jetcnn/data.h"

struct jc_prefetch {
  jc_data *d;           /* borrowed */
  const jc_plan *p;     /* borrowed */
  int rank, size;
  float *x, *next;      /* the step handed out by prefetch_take, and the one being read; owned */
  int threaded;         /* 1: the reader thread runs (mutex and conditions initialised) */
  pthread_t thread;
  pthread_mutex_t mu;   /* guards everything below */
  pthread_cond_t wake;  /* the caller asked for a read, or for the thread to end */
  pthread_cond_t done;  /* a read ended */
  int busy;             /* a read of `step` into `next` is under way */
  int ready;            /* it ended: its result is rc/err */
  int quit;
  size_t step;
  jc_code rc;
  jc_err err;
};

/* Read this rank's blocks of step s into x, block k at x + k * micro * (C*H*W), raw pixels. */
static jc_code read_step(const jc_prefetch *pf, size_t s, float *x, jc_err *err) {
  const jc_step_share mine = plan_rank_step(pf->p, s, pf->rank, pf->size);
  const size_t per = shape_size(pf->d->shape);
  for (int k = 0; k < mine.n_local; k++) {
    size_t start, len;
    plan_block(pf->p, mine.blocks[k], &start, &len);
    JC_TRY(data_read(pf->d, start, len, x + (size_t)k * pf->p->micro * per, err));
  }
  return JC_OK;
}

static void *reader_main(void *arg) {
  jc_prefetch *pf = arg;
  pthread_mutex_lock(&pf->mu);
  for (;;) {
    while (!pf->busy && !pf->quit) pthread_cond_wait(&pf->wake, &pf->mu);
    if (pf->quit) break;
    const size_t step = pf->step;
    pthread_mutex_unlock(&pf->mu);
    jc_err err;
    jc_err_clear(&err);
    jc_code rc = read_step(pf, step, pf->next, &err);
    pthread_mutex_lock(&pf->mu);
    pf->rc = rc;
    pf->err = err;
    pf->busy = 0;
    pf->ready = 1;
    pthread_cond_signal(&pf->done);
  }
  pthread_mutex_unlock(&pf->mu);
  return NULL;
}

/* The thread, when MPI allows another thread to call it (HDF5's MPI-IO reads do). A thread
 * that cannot start is no error: every read then happens in prefetch_take. */
static void start_thread(jc_prefetch *pf) {
  int level = MPI_THREAD_SINGLE;
  if (MPI_Query_thread(&level) != MPI_SUCCESS || level < MPI_THREAD_SERIALIZED) return;
  if (pthread_mutex_init(&pf->mu, NULL) != 0) return;
  if (pthread_cond_init(&pf->wake, NULL) != 0) goto no_wake;
  if (pthread_cond_init(&pf->done, NULL) != 0) goto no_done;
  if (pthread_create(&pf->thread, NULL, reader_main, pf) != 0) goto no_thread;
  pf->threaded = 1;
  return;
no_thread:
  pthread_cond_destroy(&pf->done);
no_done:
  pthread_cond_destroy(&pf->wake);
no_wake:
  pthread_mutex_destroy(&pf->mu);
}

jc_code prefetch_create(jc_data *d, const jc_plan *p, int rank, int size, jc_prefetch **out, jc_err *err) {
  *out = NULL;
  jc_prefetch *pf = jc_calloc(1, sizeof *pf, err);
  if (!pf) return JC_ERR_NOMEM;
  *pf = (jc_prefetch){.d = d, .p = p, .rank = rank, .size = size};
  const size_t floats = plan_max_share(p, size) * p->micro * shape_size(d->shape) + 1;
  pf->x = jc_malloc(floats * sizeof *pf->x, err);
  pf->next = jc_malloc(floats * sizeof *pf->next, err);
  if (!pf->x || !pf->next) {
    prefetch_free(&pf);
    return JC_ERR_NOMEM;
  }
  start_thread(pf);
  *out = pf;
  return JC_OK;
}

void prefetch_start(jc_prefetch *pf, size_t step) {
  if (!pf->threaded) return;
  pthread_mutex_lock(&pf->mu);
  while (pf->busy) pthread_cond_wait(&pf->done, &pf->mu); /* one read at a time */
  pf->step = step;
  pf->ready = 0;
  pf->busy = 1;
  pthread_cond_signal(&pf->wake);
  pthread_mutex_unlock(&pf->mu);
}

void prefetch_settle(jc_prefetch *pf) {
  if (!pf->threaded) return;
  pthread_mutex_lock(&pf->mu);
  while (pf->busy) pthread_cond_wait(&pf->done, &pf->mu);
  pthread_mutex_unlock(&pf->mu);
}

jc_code prefetch_take(jc_prefetch *pf, size_t step, float **x, jc_err *err) {
  prefetch_settle(pf);
  *x = pf->x;
  if (!pf->ready || pf->step != step) return read_step(pf, step, pf->x, err); /* nothing read ahead: now */
  pf->ready = 0; /* the thread is idle (settled): no lock needed */
  float *swap = pf->x;
  pf->x = pf->next;
  pf->next = swap;
  *x = pf->x;
  if (pf->rc != JC_OK) *err = pf->err;
  return pf->rc;
}

void prefetch_free(jc_prefetch **pp) {
  if (!pp || !*pp) return;
  jc_prefetch *pf = *pp;
  if (pf->threaded) {
    prefetch_settle(pf);
    pthread_mutex_lock(&pf->mu);
    pf->quit = 1;
    pthread_cond_signal(&pf->wake);
    pthread_mutex_unlock(&pf->mu);
    pthread_join(pf->thread, NULL);
    pthread_cond_destroy(&pf->done);
    pthread_cond_destroy(&pf->wake);
    pthread_mutex_destroy(&pf->mu);
  }
  free(pf->x);
  free(pf->next);
  free(pf);
  *pp = NULL;
}
