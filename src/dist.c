/* dist.c - failure agreement and collective reductions (see dist.h). */
#include "jetcnn/dist.h"

#include <stdio.h>
#include <string.h>

int dist_rank(MPI_Comm comm) {
  int r = 0;
  MPI_Comm_rank(comm, &r);
  return r;
}

int dist_size(MPI_Comm comm) {
  int s = 1;
  MPI_Comm_size(comm, &s);
  return s;
}

jc_code dist_mpi_check(int mpi_rc, const char *call, const char *file, int line, jc_err *err) {
  if (mpi_rc == MPI_SUCCESS) return JC_OK;
  char text[MPI_MAX_ERROR_STRING] = "";
  int len = 0;
  if (MPI_Error_string(mpi_rc, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "error code %d", mpi_rc);
  const char *paren = strchr(call, '(');
  int name_len = paren ? (int)(paren - call) : (int)strlen(call);
  return jc_fail(err, JC_ERR_RUNTIME, "%.*s failed (%s:%d): %s", name_len, call, file, line, text);
}

/* 1 if msg already starts with "rank R (": an error agreed on before (e.g. inside a
 * collective open) that is passed through another agreement keeps its one prefix. */
static int names_a_rank(const char *msg) {
  if (strncmp(msg, "rank ", 5) != 0) return 0;
  const char *p = msg + 5;
  if (*p < '0' || *p > '9') return 0;
  while (*p >= '0' && *p <= '9') p++;
  return strncmp(p, " (", 2) == 0;
}

jc_code dist_agree(MPI_Comm comm, jc_code rc, jc_err *err) {
  int rank = dist_rank(comm);
  int mine[2] = {rc != JC_OK ? 0 : 1, rank}, first[2];
  /* If agreement itself fails nothing sensible is left to do collectively: the whole job
   * stops (MPI_Abort prints which rank called it and with which code). */
  if (MPI_Allreduce(mine, first, 1, MPI_2INT, MPI_MINLOC, comm) != MPI_SUCCESS) MPI_Abort(comm, JC_ERR_RUNTIME);
  if (first[0] == 1) return JC_OK;
  struct {
    int code;
    char msg[JC_ERR_MSG_MAX];
  } box = {rc, ""};
  if (rank == first[1] && err) {
    char host[MPI_MAX_PROCESSOR_NAME] = "?";
    int len = 0;
    if (MPI_Get_processor_name(host, &len) != MPI_SUCCESS) snprintf(host, sizeof host, "?");
    if (dist_size(comm) > 1 && !names_a_rank(err->msg))
      snprintf(box.msg, sizeof box.msg, "rank %d (%s): %s", rank, host, err->msg);
    else
      snprintf(box.msg, sizeof box.msg, "%s", err->msg);
  }
  if (MPI_Bcast(&box, (int)sizeof box, MPI_BYTE, first[1], comm) != MPI_SUCCESS) MPI_Abort(comm, JC_ERR_RUNTIME);
  return jc_fail(err, (jc_code)box.code, "%s", box.msg);
}

/* ---- exact sums ---- */
#include <math.h>
#include <stdlib.h>

jc_reducer *dist_reducer_create(size_t len, const size_t *seg, int n_seg, jc_err *err) {
  jc_reducer *r = jc_calloc(1, sizeof *r, err);
  if (!r) return NULL;
  r->len = len;
  r->n_seg = n_seg;
  r->seg = jc_malloc(((size_t)n_seg + 1) * sizeof *r->seg, err);
  r->acc = jc_malloc((len ? len : 1) * sizeof *r->acc, err);
  r->maxv = jc_malloc(((size_t)n_seg + 2) * sizeof *r->maxv, err);
  r->scale = jc_malloc(((size_t)n_seg + 1) * sizeof *r->scale, err);
  r->req = jc_malloc(((size_t)n_seg + 1) * sizeof *r->req, err);
  if (!r->seg || !r->acc || !r->maxv || !r->scale || !r->req) {
    dist_reducer_free(&r);
    return NULL;
  }
  memcpy(r->seg, seg, ((size_t)n_seg + 1) * sizeof *seg);
  return r;
}

void dist_reducer_free(jc_reducer **r) {
  if (!r || !*r) return;
  free((*r)->seg);
  free((*r)->acc);
  free((*r)->maxv);
  free((*r)->scale);
  free((*r)->req);
  free(*r);
  *r = NULL;
}

jc_code dist_sum_exact(MPI_Comm comm, jc_reducer *r, const float *rows, int n_local, long n_global, float *out,
                       jc_code local_rc, int *bad_seg, jc_err *err) {
  const size_t len = r->len;
  const int n_seg = r->n_seg;
  /* 1. Local magnitude maxima per segment (+inf marks a non-finite value). */
  for (int s = 0; s < n_seg; s++) {
    float m = 0.0f;
    int nonfinite = 0;
    for (int k = 0; k < n_local; k++) {
      const float *row = rows + (size_t)k * len;
      for (size_t j = r->seg[s]; j < r->seg[s + 1]; j++) {
        float a = fabsf(row[j]);
        m = a > m ? a : m;
        nonfinite |= !(a <= 3.4028235e38f); /* NaN or Inf */
      }
    }
    r->maxv[s] = nonfinite ? INFINITY : m;
  }
  r->maxv[n_seg] = local_rc != JC_OK ? 1.0f : 0.0f;
  r->maxv[n_seg + 1] = (float)r->flag;
  jc_code mrc = JC_MPI(MPI_Allreduce(MPI_IN_PLACE, r->maxv, n_seg + 2, MPI_FLOAT, MPI_MAX, comm), err);
  if (mrc != JC_OK) return dist_agree(comm, mrc, err);
  r->flag = (int)r->maxv[n_seg + 1];
  if (r->maxv[n_seg] > 0.0f) return dist_agree(comm, local_rc, err);
  for (int s = 0; s < n_seg; s++)
    if (isinf(r->maxv[s])) {
      if (bad_seg) *bad_seg = s;
      return jc_fail(err, JC_ERR_RUNTIME, "non-finite value (NaN or Inf) in segment %d of the reduced vector", s);
    }
  /* 2. Fixed point: |v| < 2^e for every v of the segment; with L = ceil(log2(n_global)) the
   * sum of n_global values scaled by 2^(62 - L - e) stays below 2^62. */
  int L = 0;
  while ((1L << L) < (n_global > 0 ? n_global : 1)) L++;
  double *scale = r->scale;
  for (int s = 0; s < n_seg; s++) {
    int e = 0;
    if (r->maxv[s] > 0.0f) frexp((double)r->maxv[s], &e);
    scale[s] = ldexp(1.0, 62 - L - e);
  }
  /* Truncation toward zero is as deterministic as rounding and one instruction. Segments are
   * converted last to first (the order backward produces them), each optionally sent at once. */
  mrc = JC_OK;
  for (int s = n_seg - 1; s >= 0; s--) {
    const size_t lo = r->seg[s], hi = r->seg[s + 1];
    const double sc = scale[s];
    int64_t *acc = r->acc;
    if (n_local == 0) memset(acc + lo, 0, (hi - lo) * sizeof *acc);
    else
      for (size_t j = lo; j < hi; j++) acc[j] = (int64_t)((double)rows[j] * sc);
    for (int k = 1; k < n_local; k++) {
      const float *row = rows + (size_t)k * len;
      for (size_t j = lo; j < hi; j++) acc[j] += (int64_t)((double)row[j] * sc);
    }
    if (r->overlap && mrc == JC_OK)
      mrc = JC_MPI(MPI_Iallreduce(MPI_IN_PLACE, acc + lo, (int)(hi - lo), MPI_INT64_T, MPI_SUM, comm, &r->req[s]), err);
  }
  /* 3. Integer sums are associative: any split over ranks gives the same bits. */
  if (mrc == JC_OK)
    mrc = r->overlap ? JC_MPI(MPI_Waitall(n_seg, r->req, MPI_STATUSES_IGNORE), err)
                     : JC_MPI(MPI_Allreduce(MPI_IN_PLACE, r->acc, (int)len, MPI_INT64_T, MPI_SUM, comm), err);
  if (mrc != JC_OK) return dist_agree(comm, mrc, err);
  for (int s = 0; s < n_seg; s++) {
    const double inv = 1.0 / scale[s];
    for (size_t j = r->seg[s]; j < r->seg[s + 1]; j++) out[j] = (float)((double)r->acc[j] * inv);
  }
  return JC_OK;
}
