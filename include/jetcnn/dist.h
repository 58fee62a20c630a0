/* dist.h - everything that crosses ranks: failure agreement and the exact gradient allreduce.
 *
 * Every function takes the communicator it works on; none uses MPI_COMM_WORLD.
 */
#ifndef JETCNN_DIST_H
#define JETCNN_DIST_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "jetcnn/error.h"

/* Collective failure agreement. Every rank passes its local code (and err holding its
 * message when it failed). If any rank failed, every rank returns the code of the lowest
 * failing rank, and err holds that rank's message prefixed with "rank R (host): ".
 * Returns JC_OK when all ranks passed JC_OK. */
jc_code dist_agree(MPI_Comm comm, jc_code rc, jc_err *err);

/* Rank and size of comm (never fails on a valid communicator). */
int dist_rank(MPI_Comm comm);
int dist_size(MPI_Comm comm);

#endif
