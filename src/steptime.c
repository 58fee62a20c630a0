/* steptime.c - per-rank compute and allreduce-wait time of an epoch (see steptime.h). */
#include "jetcnn/steptime.h"

#include <stdio.h>
#include <string.h>

#include "jetcnn/dist.h"

/* The processor name of rank `root` of comm into host (size STEPTIME_HOST_MAX), on every rank. */
static jc_code host_of(MPI_Comm comm, int root, char *host, jc_err *err) {
  char name[MPI_MAX_PROCESSOR_NAME] = "?";
  int len = 0;
  if (dist_rank(comm) == root && MPI_Get_processor_name(name, &len) != MPI_SUCCESS) snprintf(name, sizeof name, "?");
  JC_TRY(JC_MPI(MPI_Bcast(name, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, root, comm), err));
  name[MPI_MAX_PROCESSOR_NAME - 1] = '\0';
  snprintf(host, STEPTIME_HOST_MAX, "%s", name);
  return JC_OK;
}

jc_code steptime_gather(MPI_Comm comm, double compute, double wait, jc_steptime *out, jc_err *err) {
  const int rank = dist_rank(comm);
  /* {value, rank} pairs: MAXLOC/MINLOC keep the lowest rank among equal values. */
  struct {
    double v;
    int rank;
  } mine[2] = {{compute, rank}, {wait, rank}}, hi[2], lo[2];
  JC_TRY(JC_MPI(MPI_Allreduce(mine, hi, 2, MPI_DOUBLE_INT, MPI_MAXLOC, comm), err));
  JC_TRY(JC_MPI(MPI_Allreduce(mine, lo, 2, MPI_DOUBLE_INT, MPI_MINLOC, comm), err));
  out->compute_min = lo[0].v;
  out->compute_max = hi[0].v;
  out->compute_max_rank = hi[0].rank;
  out->wait_min = lo[1].v;
  out->wait_max = hi[1].v;
  out->wait_max_rank = hi[1].rank;
  JC_TRY(host_of(comm, out->compute_max_rank, out->compute_max_host, err));
  return host_of(comm, out->wait_max_rank, out->wait_max_host, err);
}

int steptime_csv(const jc_steptime *s, char *buf, size_t n) {
  return snprintf(buf, n, "%.3f,%.3f,%d,%s,%.3f,%.3f,%d,%s", s->compute_min, s->compute_max, s->compute_max_rank,
                  s->compute_max_host, s->wait_min, s->wait_max, s->wait_max_rank, s->wait_max_host);
}

int steptime_format(const jc_steptime *s, char *buf, size_t n) {
  return snprintf(buf, n,
                  "  ranks: compute (read+forward+backward) min %.3f s, max %.3f s on rank %d (%s); allreduce wait "
                  "min %.3f s, max %.3f s on rank %d (%s)",
                  s->compute_min, s->compute_max, s->compute_max_rank, s->compute_max_host, s->wait_min,
                  s->wait_max, s->wait_max_rank, s->wait_max_host);
}
