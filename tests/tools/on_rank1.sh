#!/bin/bash
# on_rank1.sh [--args FILE] [VAR=VALUE ...] -- PROGRAM ARGS...
# Under mpiexec: every rank runs PROGRAM ARGS, except rank 1, which runs PROGRAM with the
# arguments listed in FILE (NUL-separated; the whole argument list after PROGRAM) and with each
# VAR=VALUE exported. For tests of ranks that were given different inputs (tests/bad_input.py).
# The rank comes from OMPI_COMM_WORLD_RANK (Open MPI), PMIX_RANK or SLURM_PROCID.
set -euo pipefail
rank=${OMPI_COMM_WORLD_RANK:-${PMIX_RANK:-${SLURM_PROCID:-}}}
if [ -z "$rank" ]; then
  echo "on_rank1.sh: no rank in the environment (run it under mpiexec or srun)" >&2
  exit 1
fi
args_file=""
envs=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  case "$1" in
    --args) args_file=$2; shift 2 ;;
    *=*) envs+=("$1"); shift ;;
    *) echo "on_rank1.sh: unexpected '$1' before --" >&2; exit 1 ;;
  esac
done
[ "${1:-}" = "--" ] || { echo "on_rank1.sh: missing -- PROGRAM" >&2; exit 1; }
shift
program=$1
shift
if [ "$rank" = 1 ]; then
  for e in "${envs[@]+"${envs[@]}"}"; do export "${e?}"; done
  if [ -n "$args_file" ]; then
    mapfile -d '' -t alt < "$args_file"
    exec "$program" "${alt[@]+"${alt[@]}"}"
  fi
fi
exec "$program" "$@"
