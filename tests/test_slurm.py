#!/usr/bin/python3
"""jobs/train.sbatch on a real single-node SLURM cluster that this test starts and stops
itself (tests/slurm/cluster.py).

  submit   sbatch --wait with 2 tasks (srun --mpi=pmix): the job completes, its run directory
           $RUNS/<job id> holds config.cfg, metrics.csv (one row per epoch, with validation)
           and a checkpoint whose weights equal those of the same training under mpiexec
  preempt  scancel --signal=USR1 --full mid-training: the job checkpoints (exit 75), requeues
           itself, resumes from the checkpoint in the same run directory, and finishes with
           weights and optimizer state byte-identical to an uninterrupted run

A missing slurm-wlm/munge is a failure, not a skip (.ci/install-deps.sh installs them).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time

try:
    import h5py
except ImportError as e:
    sys.exit(f"FAIL: needs Debian's python3-h5py ({e})")

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "slurm"))
from cluster import Cluster  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("case", choices=["submit", "preempt"])
ap.add_argument("--jetcnn", required=True)
ap.add_argument("--mpiexec", required=True)
ap.add_argument("--source", required=True, help="the jetcnn checkout (jobs/, tests/)")
ap.add_argument("--workdir", required=True)
a = ap.parse_args()
T0 = time.time()
work = os.path.join(a.workdir, a.case)
runs = os.path.join(work, "runs")
shutil.rmtree(runs, ignore_errors=True)
os.makedirs(runs)
config = os.path.join(a.source, "tests", "resume.cfg")  # 2 epochs x 32 steps, Adam, dropout
train = os.path.join(work, "train.h5")
val = os.path.join(work, "val.h5")
# The preempted job must still be training when the signal comes: 4000 jets, 2 x 125 steps.
for path, n, seed in ((train, 1000 if a.case == "submit" else 4000, 5), (val, 300, 6)):
    subprocess.run(["/usr/bin/python3", f"{here}/tools/toy_data.py", path, "--n", str(n), "--seed", str(seed)],
                   check=True)
failures = 0


def check(ok, what):
    global failures
    failures += not ok
    print(f"{'ok  ' if ok else 'FAIL'} [{time.time() - T0:5.1f} s] {what}", flush=True)
    return ok


def weights(path):
    with h5py.File(path, "r") as f:
        w = b"".join(f["weights"][g][d][()].tobytes() for g in sorted(f["weights"]) for d in ("kernel", "bias"))
        s = b"".join(f["state"][k][()].tobytes() for k in ("optimizer_m", "optimizer_v", "optimizer_t", "step"))
    return w, s


def reference(extra):
    """The same training under mpiexec -np 2, uninterrupted."""
    out = os.path.join(work, "reference")
    env = dict(os.environ, OMP_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    cmd = [a.mpiexec, "--oversubscribe", "-np", "2", a.jetcnn, "train", config, "--train", train, "--val", val,
           "--out", out, "--force", *extra]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    if not check(r.returncode == 0, f"reference run under mpiexec ({' '.join(extra)})"):
        print(r.stdout[-1500:], r.stderr[-1500:])
        sys.exit(1)
    return weights(os.path.join(out, "checkpoint.h5"))


def submit(c, extra_args, wait):
    env = dict(c.env, JETCNN=a.jetcnn, JETCNN_HOME=a.source, JETCNN_CONFIG=config, JETCNN_TRAIN=train,
               JETCNN_VAL=val, JETCNN_RUNS=runs, JETCNN_ARGS=" ".join(extra_args), JETCNN_LAUNCHER="srun",
               OMP_NUM_THREADS="1")
    cmd = ["sbatch", "--parsable", "--ntasks-per-node=2", "--cpus-per-task=1", "--time=5",
           f"--output={work}/job-%j.out"] + (["--wait"] if wait else []) + [os.path.join(a.source, "jobs", "train.sbatch")]
    return c.run(cmd, env=env, timeout=110, cwd=work)


def job_log(job_id):
    p = os.path.join(work, f"job-{job_id}.out")
    return open(p, errors="replace").read() if os.path.exists(p) else "(no job output)"


def wait_state(c, job_id, pred, timeout):
    t0 = time.time()
    info = {}
    while time.time() - t0 < timeout:
        info = c.job(job_id)
        if pred(info):
            return info
        time.sleep(0.2)
    return info


with Cluster(os.path.join(work, "cluster")) as c:
    check(True, "SLURM cluster started (munged, slurmctld, slurmd)")
    if a.case == "submit":
        ref = reference(["--set", "epochs=1"])
        r = submit(c, ["--set", "epochs=1"], wait=True)
        job_id = r.stdout.strip().split(";")[0]
        log = job_log(job_id)
        if not check(r.returncode == 0 and job_id.isdigit(), f"sbatch --wait jobs/train.sbatch: exit {r.returncode}"):
            print(r.stdout, r.stderr, log[-3000:], c.logs())
        info = c.job(job_id)
        check(info.get("JobState") == "COMPLETED" and info.get("ExitCode") == "0:0",
              f"job {job_id}: {info.get('JobState')}, exit {info.get('ExitCode')}")
        run = os.path.join(runs, job_id)
        files = sorted(os.listdir(run)) if os.path.isdir(run) else []
        check(files == ["checkpoint-000000000032.h5", "checkpoint.h5", "config.cfg", "metrics.csv"],
              f"run directory runs/{job_id}: {files}")
        check("2 ranks x 1 thread" in log, "the job trained on 2 ranks x 1 thread (srun --mpi=pmix)")
        if os.path.exists(os.path.join(run, "metrics.csv")):
            rows = open(os.path.join(run, "metrics.csv")).read().splitlines()
            check(len(rows) == 2 and re.match(r"1,32,[^,]+,[0-9.]+,[0-9.]+,[0-9.]+,[0-9.]+,0\.\d+,", rows[1]) is not None,
                  f"metrics.csv: one epoch with validation loss, accuracy and AUC: {rows[1:]}")
        if os.path.exists(os.path.join(run, "checkpoint.h5")):
            check(weights(os.path.join(run, "checkpoint.h5")) == ref,
                  "weights and optimizer state equal those of the same training under mpiexec")
    else:
        extra = ["--set", "checkpoint_every=4"]
        ref = reference(extra)
        r = submit(c, extra, wait=False)
        job_id = r.stdout.strip().split(";")[0]
        if not check(r.returncode == 0 and job_id.isdigit(), f"sbatch jobs/train.sbatch: job {job_id}"):
            print(r.stdout, r.stderr)
            sys.exit(1)
        run = os.path.join(runs, job_id)
        t0 = time.time()
        while time.time() - t0 < 60 and not any(f.startswith("checkpoint-0") and int(f[11:23]) >= 8
                                                 for f in (os.listdir(run) if os.path.isdir(run) else [])):
            time.sleep(0.05)
        check(time.time() - t0 < 60, f"job {job_id} is training (checkpoint at step >= 8 after {time.time() - t0:.1f} s)")
        r = c.run(["scancel", "--signal=USR1", "--full", job_id])
        check(r.returncode == 0, "scancel --signal=USR1 --full")
        info = wait_state(c, job_id, lambda i: int(i.get("Restarts", "0")) >= 1, 30)
        check(int(info.get("Restarts", "0")) == 1, f"job requeued itself (Restarts={info.get('Restarts')}, "
              f"{info.get('JobState')})")
        info = wait_state(c, job_id, lambda i: i.get("JobState") in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"), 90)
        log = job_log(job_id)
        if not check(info.get("JobState") == "COMPLETED" and info.get("ExitCode") == "0:0",
                     f"job {job_id} finished after the requeue: {info.get('JobState')}, exit {info.get('ExitCode')}"):
            print(log[-4000:], c.logs())
        check(re.search(r"stopped by SIGUSR1: checkpointed at epoch \d, step \d+ of 125", log) is not None,
              "first run: jetcnn checkpointed on SIGUSR1")
        check("checkpointed (exit 75); requeueing job" in log, "first run: the script requeued the job on exit 75")
        check(re.search(r"job \d+ \(restart 1\)", log) is not None and "resuming" in log and "--resume" in log,
              "second run: restart 1 resumed from the checkpoint (--resume)")
        ck = os.path.join(run, "checkpoint.h5")
        if check(os.path.exists(ck), "final checkpoint in the same run directory"):
            check(weights(ck) == ref, "final weights and optimizer state byte-identical to the uninterrupted run")
print(f"{a.case}: {time.time() - T0:.1f} s")
sys.exit(1 if failures else 0)
