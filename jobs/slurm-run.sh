# slurm-run.sh - the part of jobs/*.sbatch that nobody needs to edit, sourced by them after
# they set JETCNN, CONFIG, TRAIN, VAL, RUNS, ARGS and LAUNCHER.
#
# Runs `jetcnn train` on all tasks of the allocation with OMP_NUM_THREADS = cpus-per-task,
# each rank bound to its own cores. A USR1 or TERM that reaches this script (from
# `#SBATCH --signal=B:USR1@...`, `scancel --signal=USR1 --full`, or preemption) is passed
# to the launcher, which passes it to every rank: jetcnn checkpoints at the next step and
# exits with 75. Then the job requeues itself (`scontrol requeue`), keeps its job id, and the
# next run resumes from $RUNS/$SLURM_JOB_ID/checkpoint.h5. Exit code 75 never ends the job.
set -u
OUT=$RUNS/$SLURM_JOB_ID
mkdir -p "$OUT" || exit 4
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
export OMP_PROC_BIND=${OMP_PROC_BIND:-close} OMP_PLACES=${OMP_PLACES:-cores}

case $LAUNCHER in
  srun)   # --kill-on-bad-exit: a rank that dies ends the step at once instead of leaving the others waiting
          LAUNCH=(srun --mpi=pmix --kill-on-bad-exit=1 ${JETCNN_SRUN_ARGS---cpu-bind=cores}) ;;
  mpirun) LAUNCH=(mpirun -np "$SLURM_NTASKS" --map-by "slot:PE=$OMP_NUM_THREADS" --bind-to core
                  ${JETCNN_MPIRUN_ARGS-}) ;;
  *)      echo "jobs: LAUNCHER must be srun or mpirun, not '$LAUNCHER'" >&2; exit 2 ;;
esac
TRAIN_CMD=("$JETCNN" train "$CONFIG" --train "$TRAIN" --out "$OUT")
[ -n "$VAL" ] && TRAIN_CMD+=(--val "$VAL")
[ -e "$OUT/checkpoint.h5" ] && TRAIN_CMD+=(--resume)   # a requeued job: continue exactly
# shellcheck disable=SC2206  # ARGS is a list of words on purpose
TRAIN_CMD+=($ARGS)

echo "jobs: job $SLURM_JOB_ID (restart ${SLURM_RESTART_COUNT:-0}) on $SLURM_JOB_NODELIST: $SLURM_NTASKS ranks x" \
     "$OMP_NUM_THREADS threads, run directory $OUT, $(date -Is)"
echo "jobs: ${LAUNCH[*]} ${TRAIN_CMD[*]}"

# bash runs a trap only once the foreground command has returned, so the launcher runs in the
# background and the script waits for it in a loop that a trapped signal merely interrupts.
trapped=0
pass_on() {
  trapped=1
  echo "jobs: got SIG$1 at $(date -Is), passing it on (checkpoint at the next step)"
  kill -"$1" "$launcher" 2>/dev/null || true
}
trap 'pass_on USR1' USR1
trap 'pass_on TERM' TERM
"${LAUNCH[@]}" "${TRAIN_CMD[@]}" &
launcher=$!
rc=0
while :; do
  trapped=0
  wait "$launcher"
  status=$?
  [ "$status" -eq 127 ] && break        # already reaped: rc holds its exit code
  rc=$status
  [ "$trapped" -eq 1 ] || break         # not interrupted by a trap: the launcher has ended
done

if [ "$rc" -eq 75 ]; then
  echo "jobs: checkpointed (exit 75); requeueing job $SLURM_JOB_ID to resume, $(date -Is)"
  scontrol requeue "$SLURM_JOB_ID" || { echo "jobs: scontrol requeue failed; resubmit this script" >&2; exit 75; }
  exit 0
fi
echo "jobs: jetcnn exited with $rc at $(date -Is)"
exit "$rc"
