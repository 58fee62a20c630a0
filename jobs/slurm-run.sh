# shellcheck shell=bash
# slurm-run.sh - the part of jobs/*.sbatch that nobody needs to edit, sourced by them after
# they set JETCNN, CONFIG, TRAIN, VAL, RUNS, ARGS, LAUNCHER and RANKS_PER_NODE.
#
# In order (docs/cluster.md explains each part):
#  1. Run directory $RUNS/<job id>; in a job array $RUNS/<array job id>_<task id>, and the task id
#     is the seed (`--set seed=<task id>`): `sbatch --array=1-5` trains five seeds.
#  2. Open MPI settings from jobs/mpi-settings.sh (network, keepalives).
#  3. The time limit: the checkpoint signal (#SBATCH --signal=B:USR1@LEAD) must leave time to
#     train. If the lead is more than half the time left, the script ignores SLURM's early signal
#     and sends USR1 itself, a tenth of the time left before the end (at least 30 s).
#  4. jetcnn train on every node of the allocation that answers a probe step, RANKS_PER_NODE
#     ranks per node (so a job submitted with a node range, --nodes=2-3, uses the nodes it got
#     and a requeued job does not fail again on a node that just died), OMP_NUM_THREADS =
#     cpus-per-task. USR1/TERM to this script are passed on: jetcnn checkpoints at the next step
#     and exits 75.
#  5. The requeue policy (requeue_policy below): requeue after exit 75 and after a lost node or
#     rank (the next run leaves out a node that does not answer a probe step); never after
#     jetcnn's own refusals (exit 2-5) or its runtime errors (exit 1 with every node alive); and
#     not after 2 restarts in a row that wrote no newer checkpoint ($OUT/requeue.state).
set -u
JOBS_DIR=${JOBS_DIR:-$JETCNN_HOME/jobs}

# ---- the requeue policy: pure functions (tests/cluster/test_policy.sh calls them directly) ----

# requeue_policy RC LOST FRUITLESS: what to do after jetcnn (the launcher) exited with RC.
# LOST: the allocated nodes that no longer answer (may be empty); FRUITLESS: restarts in a row,
# this run included, that wrote no newer checkpoint. Prints done, requeue or stop.
requeue_policy() {
  local rc=$1 lost=$2 fruitless=$3
  case $rc in
    0) echo 'done'; return ;;
    2|3|4|5) echo stop; return ;;                 # jetcnn refused: bad config, input, output, memory
    1) [ -n "$lost" ] || { echo stop; return; } ;; # a runtime error on live nodes (e.g. non-finite loss)
  esac
  # 75 (checkpointed on a signal), a lost node, or a rank/launcher killed by a signal (128+N)
  if [ "$fruitless" -ge 2 ]; then echo stop; else echo requeue; fi
}

# seconds HH:MM:SS | MM:SS | D-HH:MM:SS | UNLIMITED -> seconds (UNLIMITED and junk: empty)
seconds() {
  local t=$1 d=0 h=0 m=0 s=0
  [ -n "$t" ] || return 0
  case $t in *-*) d=${t%%-*}; t=${t#*-} ;; esac
  IFS=: read -r -a p <<<"$t"
  case ${#p[@]} in
    3) h=${p[0]} m=${p[1]} s=${p[2]} ;;
    2) m=${p[0]} s=${p[1]} ;;
    1) s=${p[0]} ;;
  esac
  for v in "$d" "$h" "$m" "$s"; do [[ $v =~ ^[0-9]+$ ]] || return 0; done
  echo $(( ((10#$d * 24 + 10#$h) * 60 + 10#$m) * 60 + 10#$s ))
}

# signal_lead: the lead of the checkpoint signal in seconds: JETCNN_SIGNAL_LEAD, else SBATCH_SIGNAL,
# else the #SBATCH --signal line of the batch script. (A --signal given on the sbatch command
# line is invisible to the job: set JETCNN_SIGNAL_LEAD with it.)
signal_lead() {
  local spec=${JETCNN_SIGNAL_LEAD:-}
  [ -n "$spec" ] && { echo "$spec"; return; }
  spec=${SBATCH_SIGNAL:-$(grep -m1 -oE '^#SBATCH[[:space:]]+--signal=[^[:space:]]+' "$0" 2>/dev/null)}
  [[ $spec =~ @([0-9]+)$ ]] && echo "${BASH_REMATCH[1]}"
}

# lead_plan LEFT LEAD: the time-limit plan at job start, from the seconds LEFT before the limit
# and the LEAD of the checkpoint signal (either may be empty: unknown). Prints "keep" (SLURM's
# signal leaves at least half the time to train), "adapt NEW_LEAD" (checkpoint NEW_LEAD s before
# the end, a tenth of the time left and at least 30 s, by the script's own timer) or "refuse"
# (less than 20 s would be left to train).
lead_plan() {
  local left=$1 lead=$2 new
  if [ -z "$left" ] || [ -z "$lead" ] || [ $((2 * lead)) -le "$left" ]; then echo keep; return; fi
  new=$((left / 10 > 30 ? left / 10 : 30))
  if [ $((left - new)) -lt 20 ]; then echo refuse; else echo "adapt $new"; fi
}

# checkpoint_id DIR: identity of DIR/checkpoint.h5 (inode, size, mtime; every checkpoint is a new
# file renamed into place), or "none"
checkpoint_id() {
  stat -c '%i:%s:%Y' "$1/checkpoint.h5" 2>/dev/null || echo none
}

[ "${JOBS_POLICY_ONLY:-0}" = 1 ] && return 0   # sourced by a test for the functions above

# ---- 1. run directory ----
if [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then
  RUN_ID=${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}
  ARGS="$ARGS --set seed=$SLURM_ARRAY_TASK_ID"
else
  RUN_ID=$SLURM_JOB_ID
fi
OUT=$RUNS/$RUN_ID
mkdir -p "$OUT" || exit 4
say() { echo "jobs: $*, $(date -Is)"; }

# ---- 2. Open MPI ----
# shellcheck source=jobs/mpi-settings.sh
source "$JOBS_DIR/mpi-settings.sh"
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
export OMP_PROC_BIND=${OMP_PROC_BIND:-close} OMP_PLACES=${OMP_PLACES:-cores}

# ---- 3. time limit vs. checkpoint lead ----
START=$(date +%s)
LEFT=$(seconds "$(squeue -h -j "$SLURM_JOB_ID" -o %L 2>/dev/null)")
LEAD=$(signal_lead)
IGNORE_USR1_UNTIL=0
timer=""
PLAN=$(lead_plan "$LEFT" "$LEAD")
case $PLAN in
  refuse)
    echo "jobs: the time limit leaves ${LEFT} s, too little to train and checkpoint; submit with a longer --time" >&2
    exit 2 ;;
  adapt*)
    NEW_LEAD=${PLAN#adapt }
    # SLURM sends its USR1 LEAD s before the end, i.e. at once or soon, and checks time limits only
    # every 30-60 s: ignore a USR1 until a minute after that moment. The script's own timer sends USR2.
    IGNORE_USR1_UNTIL=$((START + (LEFT > LEAD ? LEFT - LEAD : 0) + 60))
    say "the checkpoint signal comes ${LEAD} s before the end (--signal) but only ${LEFT} s are left:" \
        "checkpointing ${NEW_LEAD} s before the end instead (ignoring SLURM's early USR1)"
    ( sleep $((LEFT - NEW_LEAD)) & s=$!; trap 'kill $s 2>/dev/null; exit 0' TERM; wait $s && kill -USR2 $$ ) &
    timer=$! ;;
esac

# ---- requeue bookkeeping (state kept in the run directory) ----
STATE=$OUT/requeue.state
runs=0 fruitless=0 running=0 start_ckpt=none last_step=0
# shellcheck disable=SC1090
[ -f "$STATE" ] && source "$STATE"
if [ "$running" = 1 ] && [ "$runs" -ge 2 ]; then
  # the previous run (a restart) never got to record its end: SLURM killed it (node failure) and
  # requeued the job itself. Did it write a newer checkpoint?
  if [ "$(checkpoint_id "$OUT")" = "$start_ckpt" ]; then fruitless=$((fruitless + 1)); else fruitless=0; fi
fi
write_state() {
  printf '# jobs/slurm-run.sh requeue bookkeeping (docs/cluster.md)\nruns=%s\nfruitless=%s\nrunning=%s\nstart_ckpt=%s\nlast_step=%s\n' \
    "$runs" "$fruitless" "$1" "$start_ckpt" "$last_step" >"$STATE.tmp" && mv -f "$STATE.tmp" "$STATE"
}
if [ "$fruitless" -ge 2 ]; then
  say "restarts in a row without a newer checkpoint: $fruitless; not running again (see $STATE)"
  write_state 0
  exit 1
fi
runs=$((runs + 1))
start_ckpt=$(checkpoint_id "$OUT")
write_state 1

# ---- 4. layout and launch ----
# probe: one task per allocated node within 30 s; prints "NODE STEP_ID" for each node that
# answered. A node that died a moment ago stays allocated until slurmctld notices
# (SlurmdTimeout): the run leaves it out rather than fail on it again.
ALL_NODES=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | paste -sd, -)
probe() {
  local n=${SLURM_JOB_NUM_NODES:-1}
  timeout 30 srun --overlap --mpi=none --kill-on-bad-exit=0 --nodes="$n" --ntasks="$n" --ntasks-per-node=1 \
    --cpus-per-task=1 sh -c 'echo "$SLURMD_NODENAME $SLURM_STEP_ID"' 2>/dev/null
}
answered() { tr , '\n' <<<"$ALL_NODES" | grep -Fxf <(awk '{print $1}' <<<"$1") | paste -sd, -; }
PROBE=$(probe)
# A requeued job keeps its id and its step ids start again at 0. A node where an earlier run's
# slurmstepd was killed keeps that step's PMIx socket (SlurmdSpoolDir/stepd.slurm.pmix.JOB.STEP)
# and a new step with the same id cannot start there ("Cannot bind() UNIX socket"): probe again
# until the training step (the next id) is above every id an earlier run of this job used.
step=$(awk 'NR == 1 {print $2}' <<<"$PROBE")
while [[ $step =~ ^[0-9]+$ ]] && [ "$step" -lt "$last_step" ]; do
  PROBE=$(probe)
  step=$(awk 'NR == 1 {print $2}' <<<"$PROBE")
done
[[ $step =~ ^[0-9]+$ ]] && last_step=$((step + 1)) && write_state 1
ALIVE=$(answered "$PROBE")
if [ -z "$ALIVE" ]; then
  ALIVE=$ALL_NODES
  say "no node answered the probe step; trying all of $ALL_NODES"
elif [ "$ALIVE" != "$ALL_NODES" ]; then
  say "left out of this run, not answering: $(tr , '\n' <<<"$ALL_NODES" | grep -vFxf <(tr , '\n' <<<"$ALIVE") | paste -sd, -)"
fi
NODES=$(tr , '\n' <<<"$ALIVE" | wc -l)
RPN=${RANKS_PER_NODE:-${SLURM_NTASKS_PER_NODE:-$(( ${SLURM_NTASKS:-1} / ${SLURM_JOB_NUM_NODES:-1} ))}}
NP=$((NODES * RPN))
# shellcheck disable=SC2206  # the *_ARGS variables are lists of words on purpose
case $LAUNCHER in
  srun)   # --kill-on-bad-exit: a rank that dies ends the step at once instead of leaving the others waiting
          LAUNCH=(srun --mpi=pmix --kill-on-bad-exit=1 --nodelist="$ALIVE" --nodes="$NODES" --ntasks="$NP"
                  --ntasks-per-node="$RPN" --cpus-per-task="$OMP_NUM_THREADS" ${JETCNN_SRUN_ARGS---cpu-bind=cores}) ;;
  mpirun) LAUNCH=(mpirun -np "$NP" --host "$(sed "s/\([^,]*\)/\1:$RPN/g" <<<"$ALIVE")"
                  --map-by "ppr:$RPN:node:PE=$OMP_NUM_THREADS" --bind-to "${JETCNN_MPIRUN_BIND:-core}"
                  ${JETCNN_MPIRUN_ARGS-}) ;;
  *)      echo "jobs: LAUNCHER must be srun or mpirun, not '$LAUNCHER'" >&2; exit 2 ;;
esac
TRAIN_CMD=("$JETCNN" train "$CONFIG" --train "$TRAIN" --out "$OUT")
[ -n "$VAL" ] && TRAIN_CMD+=(--val "$VAL")
[ -e "$OUT/checkpoint.h5" ] && TRAIN_CMD+=(--resume)   # a requeued job: continue exactly
# shellcheck disable=SC2206  # ARGS is a list of words on purpose
TRAIN_CMD+=($ARGS)

say "job $SLURM_JOB_ID (restart ${SLURM_RESTART_COUNT:-0}) on $SLURM_JOB_NODELIST: $NODES nodes x $RPN ranks x" \
    "$OMP_NUM_THREADS threads, run directory $OUT"
echo "jobs: ${LAUNCH[*]} ${TRAIN_CMD[*]}"

# bash runs a trap only once the foreground command has returned, so the launcher runs in the
# background and the script waits for it in a loop that a trapped signal merely interrupts.
trapped=0
pass_on() {
  trapped=1
  if [ "$1" = USR1 ] && [ "$(date +%s)" -lt "$IGNORE_USR1_UNTIL" ]; then  # $1: signal got, $2: passed on
    say "ignoring SLURM's early USR1 (the lead is longer than the time allows)"
    return
  fi
  say "got SIG$1, passing it on (checkpoint at the next step)"
  kill -"$2" "$launcher" 2>/dev/null || true
}
trap 'pass_on USR1 USR1' USR1
# srun passes TERM on to the ranks (jetcnn checkpoints on it); mpirun would kill them: USR1 instead
TERM_TO=TERM
[ "$LAUNCHER" = mpirun ] && TERM_TO=USR1
trap 'pass_on TERM $TERM_TO' TERM
trap 'pass_on USR2 USR1' USR2   # the time-limit timer above
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
[ -n "$timer" ] && kill "$timer" 2>/dev/null
say "jetcnn exited with $rc"

# ---- 5. requeue policy ----
lost=""
case $rc in
  0|2|3|4|5|75) ;;
  *) # did we lose a node? (--overlap: the failed step may still hold CPUs on it)
     lost=$(tr , '\n' <<<"$ALIVE" | grep -vFxf <(tr , '\n' <<<"$(answered "$(probe)")") | paste -sd, -)
     [ -n "$lost" ] && say "lost node(s): $lost" ;;
esac
if [ "$runs" -ge 2 ] && [ "$(checkpoint_id "$OUT")" = "$start_ckpt" ]; then
  fruitless=$((fruitless + 1))
else
  fruitless=0
fi
write_state 0
action=$(requeue_policy "$rc" "$lost" "$fruitless")
case $action in
  done) exit 0 ;;
  requeue)
    say "requeueing job $SLURM_JOB_ID to resume (exit $rc${lost:+, lost $lost})"
    scontrol requeue "$SLURM_JOB_ID" || { echo "jobs: scontrol requeue failed; resubmit this script" >&2; exit "$rc"; }
    exit 0 ;;
  *)
    if [ "$fruitless" -ge 2 ]; then
      say "not requeueing: $fruitless restarts in a row wrote no newer checkpoint"
    else
      say "not requeueing (exit $rc: see jetcnn's message above)"
    fi
    exit "$rc" ;;
esac
