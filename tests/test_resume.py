#!/usr/bin/python3
"""Checkpoint and resume (issue 7), end to end with the real CLI under mpiexec.

Every case compares against one uninterrupted reference run (P = 2, 2 epochs of 32 steps,
Adam): a resumed run must end with the same bytes of weights and optimizer state, and the
same metrics.csv rows (apart from the img/s and seconds columns).

  exact    resume from mid-epoch and epoch-crossing checkpoints with P = 1, 2, 3; keep_checkpoints;
           a finished run: --resume does nothing (exit 0), without --resume it is refused (exit 2)
  signal   SIGUSR1 bursts to mpiexec (a second signal lands during the checkpoint), then SIGTERM to
           one rank only: every rank stops at the next step with exit code 75, resumes (P = 3)
  kill9    kill -9 of one rank: the job ends promptly, checkpoint.h5 is intact, resume is exact
  nan      a diverging run stops naming the step; the last good checkpoint is kept, finite
  config   a changed config is refused naming the changed keys; the checkpoint stays untouched
"""
import argparse
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import time

try:
    import h5py
    import numpy as np
except ImportError as e:  # a missing dependency is a failure, never a skip
    sys.exit(f"FAIL: needs Debian's python3-h5py and numpy ({e})")

ap = argparse.ArgumentParser()
ap.add_argument("case", choices=["exact", "signal", "kill9", "nan", "config"])
ap.add_argument("--jetcnn", required=True)
ap.add_argument("--mpiexec", required=True)
ap.add_argument("--config", required=True)
ap.add_argument("--workdir", required=True)
a = ap.parse_args()
here = os.path.dirname(os.path.abspath(__file__))
work = os.path.join(a.workdir, a.case)
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
data = os.path.join(work, "jets.h5")
subprocess.run(["/usr/bin/python3", f"{here}/tools/toy_data.py", data, "--n", "1000", "--seed", "5"], check=True)
# 1000 jets, batch 32: 32 steps per epoch (the last one short), micro-batches of 16.
BASE = []  # tests/resume.cfg: 2 epochs, batch 32, micro-batches of 16, Adam, cosine, dropout
failures = 0


def check(ok, what):
    global failures
    failures += not ok
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    return ok


def train_cmd(out, ranks=2, extra=(), config=None):
    return [a.mpiexec, "--oversubscribe", "-np", str(ranks), a.jetcnn, "train", config or a.config, "--train", data,
            "--out", out, *BASE, *extra]


def train(out, ranks=2, extra=(), config=None, timeout=240):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(train_cmd(out, ranks, extra, config), env=env, capture_output=True, text=True,
                          timeout=timeout)


def state(path):
    """Weights and optimizer state as bytes, and the progress."""
    with h5py.File(path, "r") as f:
        # every tensor under /weights: kernels, biases, batch norm's scales, shifts and running statistics
        w = b"".join(d.encode() + f["weights"][g][d][()].tobytes() for g in sorted(f["weights"]) for d in sorted(f["weights"][g]))
        s = b"".join(f["state"][k][()].tobytes() for k in ("optimizer_m", "optimizer_v", "optimizer_t") if k in f["state"])
        finite = all(np.all(np.isfinite(f["weights"][g][d][()])) for g in f["weights"] for d in f["weights"][g])
        prog = {k: int(f["state"][k][0]) for k in ("epoch", "step", "epoch_step")}
    return w, s, finite, prog


def metrics(run):
    with open(os.path.join(run, "metrics.csv")) as f:
        return [",".join(line.split(",")[:9]) for line in f.read().splitlines()]


def same_as_reference(run, what):
    w, s, _, prog = state(os.path.join(run, "checkpoint.h5"))
    check(w == REF[0], f"{what}: final weights byte-identical to the uninterrupted run")
    check(s == REF[1], f"{what}: final optimizer state byte-identical")
    check(prog == REF[3], f"{what}: final progress {prog}")
    m = metrics(run)
    if not check(m == REF_METRICS, f"{what}: metrics.csv rows equal (epoch, step, lr, losses, accuracies)"):
        print(f"     {m}\n  vs {REF_METRICS}")


def must(r, code, what):
    ok = check(r.returncode == code, f"{what}: exit code {r.returncode} (expected {code})")
    if not ok:
        print(r.stdout[-2000:], r.stderr[-3000:])
    return ok


def children(pid):
    """Pids whose parent is pid (the ranks that mpiexec started)."""
    out = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.split("/")[2]))
    return out


def rank_pids(mpiexec_pid, n, timeout=30):
    t0 = time.time()
    while time.time() - t0 < timeout:
        pids = [p for p in children(mpiexec_pid) if "jetcnn" in open(f"/proc/{p}/cmdline").read()]
        if len(pids) == n:
            return sorted(pids)
        time.sleep(0.05)
    sys.exit(f"FAIL: could not find the {n} ranks of mpiexec {mpiexec_pid}")


def start(out, ranks=2, extra=()):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    log = open(os.path.join(work, os.path.basename(out) + ".log"), "w")
    return subprocess.Popen(train_cmd(out, ranks, extra), env=env, stdout=log, stderr=subprocess.STDOUT, text=True)


def wait_for_step(run, step, proc, timeout=120):
    """Wait until the run has saved a checkpoint at optimizer step >= step."""
    t0 = time.time()
    while time.time() - t0 < timeout and proc.poll() is None:
        hist = glob.glob(os.path.join(run, "checkpoint-*.h5"))
        if any(int(re.search(r"checkpoint-(\d+)\.h5$", h).group(1)) >= step for h in hist):
            return True
        time.sleep(0.02)
    return False


def log_of(out):
    with open(os.path.join(work, os.path.basename(out) + ".log")) as f:
        return f.read()


# ---- the reference: uninterrupted, P = 2, epoch-end checkpoints only ----
ref = os.path.join(work, "ref")
r = train(ref)
if not must(r, 0, "reference run"):
    sys.exit(1)
REF = state(os.path.join(ref, "checkpoint.h5"))
REF_METRICS = metrics(ref)
check(REF[3] == {"epoch": 2, "step": 64, "epoch_step": 0} and REF[2], f"reference progress {REF[3]}, finite weights")

if a.case == "exact":
    # Every 7 steps, keep all: steps 7, 14, 21, 28 (epoch 1), 32 (its end), 35 ... 63, 64.
    hist = os.path.join(work, "hist")
    r = train(hist, extra=["--set", "checkpoint_every=7", "--set", "keep_checkpoints=100"])
    must(r, 0, "run checkpointing every 7 steps")
    steps = sorted(int(re.search(r"(\d+)\.h5$", p).group(1)) for p in glob.glob(os.path.join(hist, "checkpoint-*.h5")))
    check(steps == [7, 14, 21, 28, 32, 35, 42, 49, 56, 63, 64], f"checkpoint-STEP.h5 for every 7 steps and epoch ends: {steps}")
    check(state(os.path.join(hist, "checkpoint.h5"))[:2] == REF[:2], "checkpoint_every does not change the result")
    check(not glob.glob(os.path.join(hist, "*.tmp")), "no temporary files left")
    mid = state(os.path.join(hist, "checkpoint-000000000021.h5"))[3]
    check(mid == {"epoch": 0, "step": 21, "epoch_step": 21}, f"mid-epoch checkpoint progress {mid}")
    for step, ranks, flag in ((21, 2, "--resume"), (21, 3, None), (35, 1, "--resume"), (32, 3, "--resume")):
        run = os.path.join(work, f"from{step}_p{ranks}")
        os.makedirs(run)
        shutil.copy(os.path.join(hist, f"checkpoint-{step:012d}.h5"), os.path.join(run, "checkpoint.h5"))
        r = train(run, ranks, [flag] if flag else [])
        if must(r, 0, f"resume from step {step} with P = {ranks} ({flag or 'automatic'})"):
            check("resuming" in r.stdout, f"resume from step {step}: says it resumes")
            same_as_reference(run, f"resumed from step {step}, P = {ranks}")
    # keep_checkpoints = 3: only the newest three remain, checkpoint.h5 is the newest.
    keep = os.path.join(work, "keep3")
    r = train(keep, extra=["--set", "checkpoint_every=7", "--set", "keep_checkpoints=3"])
    must(r, 0, "run with keep_checkpoints = 3")
    left = sorted(os.path.basename(p) for p in glob.glob(os.path.join(keep, "checkpoint-*.h5")))
    check(left == ["checkpoint-000000000056.h5", "checkpoint-000000000063.h5", "checkpoint-000000000064.h5"],
          f"keep_checkpoints = 3 keeps the newest three: {left}")
    with open(os.path.join(keep, "checkpoint.h5"), "rb") as f1, open(os.path.join(keep, left[-1]), "rb") as f2:
        check(f1.read() == f2.read(), "checkpoint.h5 is the newest checkpoint")
    # A finished run: --resume has nothing to do, no flag is refused; neither touches it.
    before = open(os.path.join(ref, "checkpoint.h5"), "rb").read()
    r = train(ref, extra=["--resume"])
    if must(r, 0, "--resume of a finished run"):
        check("nothing to do" in r.stdout, "--resume of a finished run says there is nothing to do")
    r = train(ref)
    if must(r, 2, "a finished run without --resume"):
        check("already holds a checkpoint" in r.stderr and "finished run" in r.stderr, "refused: " + r.stderr.strip()[-200:])
    check(open(os.path.join(ref, "checkpoint.h5"), "rb").read() == before, "the finished run's checkpoint is untouched")
    orphans = os.path.join(work, "orphans")  # history files without checkpoint.h5: never pruned silently
    os.makedirs(orphans)
    for step in (56, 63):
        shutil.copy(os.path.join(hist, f"checkpoint-{step:012d}.h5"), orphans)
    r = train(orphans)
    if must(r, 2, "checkpoint-STEP.h5 files but no checkpoint.h5"):
        check("holds 2 checkpoint-STEP.h5 files but no checkpoint.h5" in r.stderr, "refused: says why")
    check(len(glob.glob(os.path.join(orphans, "checkpoint-*.h5"))) == 2, "the orphaned checkpoints are kept")
    r = train(os.path.join(work, "empty"), extra=["--resume"])
    if must(r, 2, "--resume without a checkpoint"):
        check("nothing to resume" in r.stderr, "says there is nothing to resume")

elif a.case == "signal":
    run = os.path.join(work, "sig")
    # 1. SIGUSR1 to mpiexec (which forwards it to every rank), then again to every rank every
    # 20 ms until they have exited: later signals arrive while the checkpoint is being written.
    # (Not to mpiexec itself: it dies of a SIGUSR1 that arrives while it shuts down.)
    p = start(run, extra=["--set", "checkpoint_every=4"])
    check(wait_for_step(run, 8, p), "run reached step 8")
    ranks = rank_pids(p.pid, 2)
    p.send_signal(signal.SIGUSR1)
    n_sent = 1
    t0 = time.time()
    while p.poll() is None and time.time() - t0 < 60:
        time.sleep(0.02)
        for pid in ranks:
            try:
                os.kill(pid, signal.SIGUSR1)
                n_sent += 1
            except ProcessLookupError:
                pass
    rc = p.wait(timeout=60)
    log = log_of(run)
    check(rc == 75, f"SIGUSR1 x {n_sent}: mpiexec exits with 75 (got {rc})")
    check("stopped by SIGUSR1: checkpointed at epoch 1" in log, "says it checkpointed on SIGUSR1 in epoch 1")
    w, s, finite, prog = state(os.path.join(run, "checkpoint.h5"))
    check(finite and prog["epoch"] == 0 and 8 <= prog["epoch_step"] < 32, f"mid-epoch checkpoint readable: {prog}")
    check(not glob.glob(os.path.join(run, "*.tmp")), "no temporary files left")
    # 2. Resume automatically (same command) and stop again with SIGTERM to rank 1 only: the
    # ranks agree on the flag, all stop at the next step boundary.
    p = start(run, extra=["--set", "checkpoint_every=4"])
    check(wait_for_step(run, 40, p), "resumed run reached step 40 (epoch 2)")
    os.kill(rank_pids(p.pid, 2)[1], signal.SIGTERM)
    rc = p.wait(timeout=60)
    log = log_of(run)
    check(rc == 75, f"SIGTERM to one rank: exit code 75 (got {rc})")
    check("resuming" in log and "stopped by SIGTERM: checkpointed at epoch 2" in log, "resumed, then checkpointed on SIGTERM in epoch 2")
    # 3. Finish with a different number of ranks.
    r = train(run, 3)
    if must(r, 0, "final resume with P = 3"):
        same_as_reference(run, "signalled twice, resumed with P = 2 then P = 3")

elif a.case == "kill9":
    run = os.path.join(work, "k9")
    p = start(run, extra=["--set", "checkpoint_every=4"])
    check(wait_for_step(run, 12, p), "run reached step 12")
    victim = rank_pids(p.pid, 2)[1]
    os.kill(victim, signal.SIGKILL)
    t0 = time.time()
    try:
        rc = p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = None
    secs = time.time() - t0
    check(rc not in (None, 0), f"kill -9 of rank 1: the job ends promptly ({secs:.1f} s, exit {rc})")
    w, s, finite, prog = state(os.path.join(run, "checkpoint.h5"))
    check(finite and prog["step"] >= 12 and prog["step"] % 4 == 0, f"last checkpoint intact: {prog}")
    r = train(run, 2)
    if must(r, 0, "resume after kill -9"):
        same_as_reference(run, "killed, resumed")

elif a.case == "nan":
    # Leaky ReLUs never die, so plain SGD at learning_rate = 10 overflows within a few steps.
    run, leaky = os.path.join(work, "nan"), os.path.join(work, "leaky.cfg")
    with open(a.config) as f, open(leaky, "w") as g:
        g.write(f.read().replace("activation = relu", "activation = leaky"))
    r = train(run, extra=["--set", "optimizer=sgd", "--set", "learning_rate=10", "--set", "schedule=constant",
                          "--set", "warmup_epochs=0", "--set", "checkpoint_every=2"], config=leaky)
    m = re.search(r"epoch 1, step (\d+): the gradient of layer\d\d \((conv|dense)\) (kernel|bias) is not finite .*"
                  r"the checkpoint of step (\d+) is kept", r.stderr)
    if must(r, 1, "diverging run (learning_rate = 10)") and check(m is not None, "message names the step and layer: " + r.stderr.strip()[-300:]):
        bad, kept = int(m.group(1)), int(m.group(4))
        w, s, finite, prog = state(os.path.join(run, "checkpoint.h5"))
        check(finite, "checkpoint.h5 holds finite weights")
        check(prog["step"] == kept and kept < bad, f"checkpoint.h5 is the last good one (step {prog['step']}, failed at {bad})")
        later = [h for h in glob.glob(os.path.join(run, "checkpoint-*.h5")) if int(re.search(r"(\d+)\.h5$", h).group(1)) >= bad]
        check(not later and not glob.glob(os.path.join(run, "*.tmp")), "no checkpoint at or after the failing step, no temporary files")

elif a.case == "config":
    run = os.path.join(work, "cfg")
    p = start(run, extra=["--set", "checkpoint_every=4"])
    check(wait_for_step(run, 8, p), "run reached step 8")
    p.send_signal(signal.SIGUSR1)
    check(p.wait(timeout=60) == 75, "stopped with exit code 75")
    ck = os.path.join(run, "checkpoint.h5")
    before = open(ck, "rb").read()
    r = train(run, extra=["--set", "checkpoint_every=4", "--set", "learning_rate=0.002"])
    if must(r, 2, "resume with another learning_rate"):
        check("already holds a checkpoint of a different config ([net] learning_rate: 0.001 -> 0.002)" in r.stderr,
              "names the changed key: " + r.stderr.strip()[-300:])
    edited = os.path.join(work, "wider.cfg")
    with open(a.config) as f:
        text = f.read().replace("filters = 8", "filters = 16", 1)
    with open(edited, "w") as f:
        f.write(text)
    r = train(run, 2, ["--resume"], config=edited)
    if must(r, 2, "--resume with a wider first conv layer"):
        check("layer00 [conv] filters: 8 -> 16" in r.stderr, "names the changed layer key: " + r.stderr.strip()[-300:])
    check(open(ck, "rb").read() == before, "the checkpoint is untouched by the refused runs")
    # checkpoint_every and keep_checkpoints may change; the result does not.
    r = train(run, 1, ["--set", "checkpoint_every=0", "--set", "keep_checkpoints=5"])
    if must(r, 0, "resume with other checkpoint_every/keep_checkpoints and P = 1"):
        same_as_reference(run, "resumed with other checkpoint settings")

sys.exit(1 if failures else 0)
