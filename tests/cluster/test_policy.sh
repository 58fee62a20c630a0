#!/bin/bash
# The pure functions of jobs/slurm-run.sh, without SLURM: the requeue policy for every kind of
# exit, the time-limit parser and the lead found in a batch script. Usage: test_policy.sh JETCNN_HOME
set -u
JETCNN_HOME=${1:?usage: test_policy.sh JETCNN_HOME}
# shellcheck disable=SC2034  # read by slurm-run.sh
JOBS_POLICY_ONLY=1
# shellcheck source=../../jobs/slurm-run.sh
source "$JETCNN_HOME/jobs/slurm-run.sh"
fail=0
expect() {  # expect WHAT GOT WANTED
  if [ "$2" = "$3" ]; then echo "ok   $1: $2"; else echo "FAIL $1: got '$2', wanted '$3'"; fail=1; fi
}

# requeue_policy RC LOST FRUITLESS
expect "success"                              "$(requeue_policy 0 '' 0)"    'done'
expect "checkpointed on a signal (75)"        "$(requeue_policy 75 '' 0)"   requeue
expect "75 after one fruitless restart"       "$(requeue_policy 75 '' 1)"   requeue
expect "75 after two fruitless restarts"      "$(requeue_policy 75 '' 2)"   stop
for rc in 2 3 4 5; do
  expect "jetcnn refused (exit $rc)"          "$(requeue_policy $rc '' 0)"  stop
  expect "jetcnn refused (exit $rc), node lost" "$(requeue_policy $rc n3 0)" stop
done
expect "runtime error, every node alive (1)"  "$(requeue_policy 1 '' 0)"    stop
expect "exit 1 with a lost node"              "$(requeue_policy 1 n3 0)"    requeue
expect "rank killed by SIGPIPE (141)"         "$(requeue_policy 141 '' 0)"  requeue
expect "rank killed by SIGKILL (137)"         "$(requeue_policy 137 n3 0)"  requeue
expect "mpirun lost a daemon (205)"           "$(requeue_policy 205 n3 0)"  requeue
expect "lost node after two fruitless"        "$(requeue_policy 137 n3 2)"  stop

# seconds: squeue's %L / %l formats
expect "seconds 9:59"        "$(seconds 9:59)"        599
expect "seconds 01:00:00"    "$(seconds 01:00:00)"    3600
expect "seconds 1-02:03:04"  "$(seconds 1-02:03:04)"  93784
expect "seconds 08:09"       "$(seconds 08:09)"       489
expect "seconds UNLIMITED"   "$(seconds UNLIMITED)"   ""
expect "seconds (empty)"     "$(seconds '')"          ""

# lead_plan LEFT LEAD (seconds)
expect "12 h limit, 600 s lead"           "$(lead_plan 43200 600)"  keep
expect "20 min limit, 600 s lead"         "$(lead_plan 1200 600)"   keep
expect "--time=10 with the 600 s lead"    "$(lead_plan 600 600)"    "adapt 60"
expect "--time=11 with the 600 s lead"    "$(lead_plan 660 600)"    "adapt 66"
expect "--time=1 with the 600 s lead"     "$(lead_plan 59 600)"     "adapt 30"
expect "49 s left"                        "$(lead_plan 49 600)"     refuse
expect "time left unknown"                "$(lead_plan '' 600)"     keep
expect "no --signal"                      "$(lead_plan 600 '')"     keep

# signal_lead: JETCNN_SIGNAL_LEAD, SBATCH_SIGNAL, else the script's #SBATCH --signal line
script=$(mktemp)
printf '#!/bin/bash\n#SBATCH --nodes=1\n#SBATCH --signal=B:USR1@600   # comment\n' >"$script"
lead_of() { (BASH_ARGV0=$1; unset JETCNN_SIGNAL_LEAD SBATCH_SIGNAL; [ -n "${2:-}" ] && export SBATCH_SIGNAL=$2; [ -n "${3:-}" ] && export JETCNN_SIGNAL_LEAD=$3; signal_lead); }
expect "lead from #SBATCH --signal=B:USR1@600"  "$(lead_of "$script")"             600
expect "lead from SBATCH_SIGNAL"                "$(lead_of "$script" B:USR1@90)"   90
expect "lead from JETCNN_SIGNAL_LEAD"           "$(lead_of "$script" "" 45)"       45
printf '#!/bin/bash\n#SBATCH --nodes=1\n' >"$script"
expect "no --signal: no lead"                   "$(lead_of "$script")"             ""
rm -f "$script"
expect "the shipped train.sbatch"               "$(lead_of "$JETCNN_HOME/jobs/train.sbatch")"            300
expect "the shipped train-multinode.sbatch"     "$(lead_of "$JETCNN_HOME/jobs/train-multinode.sbatch")"  600
exit $fail
