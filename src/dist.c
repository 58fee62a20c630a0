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

jc_code dist_agree(MPI_Comm comm, jc_code rc, jc_err *err) {
  int rank = dist_rank(comm);
  int mine[2] = {rc != JC_OK ? 0 : 1, rank}, first[2];
  if (MPI_Allreduce(mine, first, 1, MPI_2INT, MPI_MINLOC, comm) != MPI_SUCCESS) {
    /* Agreement itself failed: nothing sensible is left to do collectively. */
    fprintf(stderr, "jetcnn: rank %d: MPI_Allreduce failed during error agreement\n", rank);
    MPI_Abort(comm, JC_ERR_RUNTIME);
  }
  if (first[0] == 1) return JC_OK;
  struct {
    int code;
    char msg[JC_ERR_MSG_MAX];
  } box = {rc, ""};
  if (rank == first[1] && err) {
    char host[MPI_MAX_PROCESSOR_NAME] = "?";
    int len = 0;
    MPI_Get_processor_name(host, &len);
    if (dist_size(comm) > 1)
      snprintf(box.msg, sizeof box.msg, "rank %d (%s): %s", rank, host, err->msg);
    else
      snprintf(box.msg, sizeof box.msg, "%s", err->msg);
  }
  MPI_Bcast(&box, (int)sizeof box, MPI_BYTE, first[1], comm);
  return jc_fail(err, (jc_code)box.code, "%s", box.msg);
}
