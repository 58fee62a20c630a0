#!/usr/bin/python3
"""The shipped job scripts (jobs/) on the three-node test cluster (tests/cluster/vcluster.py,
started by the ctest fixture cluster_up). One case per run:

  multinode  jobs/train-multinode.sbatch, 3 nodes x 1 and 3 x 2 ranks, under srun --mpi=pmix and
             under mpirun: weights byte-identical to a 1-process run; every veth link carried at
             least steps x gradient bytes each way (the ranks talked over TCP between nodes)
  kill       (--launcher srun|mpirun) mid-epoch, node n3's slurmd and ranks get SIGKILL: the job ends within 60 s, no rank
             is left, the newest checkpoint is intact, the job requeues and resumes on the two
             nodes left (--nodes=2-3); then n3 comes back, the job is signalled (USR1) and
             resumes on all three: weights byte-identical to the uninterrupted run
  link       (--launcher srun|mpirun) mid-epoch, n3's link is cut (veth down): the job ends within SlurmdTimeout + 60 s,
             requeues, resumes on two nodes, finishes byte-identical; once the link is back, no
             rank of the first run is left
  policy     the requeue policy end to end, with a stand-in for jetcnn (three jobs side by side):
             exit 3 is never requeued; exit 75 without a newer checkpoint is requeued twice, then
             not; `--time=1` with the script's 600 s lead: SLURM's early USR1 is ignored and the
             job checkpoints (exit 75) about 30 s before the end, then requeues
  array      `sbatch --array=1-3 jobs/train.sbatch`: run directories RUNS/<array id>_<task>,
             seed = task id; task 1 equals a 1-process run of seed 1 (run directory, metrics with
             validation); task 2 is signalled mid-training, checkpoints, requeues and finishes
             byte-identical to seed 2's uninterrupted run; predict, then roc --ensemble over the three
  slow       one node slowed (CPU quota on its ranks) and one link slowed (tc tbf); see the case

A missing tool is a failure, never a skip.
"""
import argparse
import csv
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

try:
    import h5py
except ImportError as e:
    sys.exit(f"FAIL: needs Debian's python3-h5py ({e})")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import vcluster  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("case", choices=["multinode", "kill", "link", "policy", "array", "slow"])
ap.add_argument("--jetcnn", required=True)
ap.add_argument("--source", required=True, help="the jetcnn checkout (jobs/, tests/)")
ap.add_argument("--state", required=True, help="the running cluster's state directory (cluster.json)")
ap.add_argument("--workdir", required=True)
ap.add_argument("--launcher", choices=["srun", "mpirun"], default="srun", help="for kill and link (default srun)")
A = ap.parse_args()
T0 = time.time()
WORK = os.path.join(os.path.abspath(A.workdir), A.case + ("-" + A.launcher if A.case in ("kill", "link") else ""))
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
RUNS = os.path.join(WORK, "runs")
CONFIG = os.path.join(A.source, "tests", "resume.cfg")  # 40x40 toy jets, 26k parameters, Adam, dropout
failures = 0


def log(msg):
    print(f"[{time.time() - T0:6.1f} s] {msg}", flush=True)


def check(ok, what):
    global failures
    failures += not ok
    log(f"{'ok  ' if ok else 'FAIL'} {what}")
    return ok


def finish():
    log(f"{A.case}: {'FAILED' if failures else 'passed'} ({failures} failures)")
    sys.exit(1 if failures else 0)


C = vcluster.Cluster(A.state, log=log).attach()


def heal():
    """Whatever an earlier case left (it may have failed half-way): no job, every slurmd running,
    every link up and unshaped, all three nodes idle."""
    C.run(["scancel", "--full", "--signal=KILL", "--partition=test"])
    for i, v in enumerate(C.veth):
        subprocess.run(["ip", "link", "set", v, "up"], capture_output=True)
        subprocess.run(["tc", "qdisc", "del", "dev", v, "root"], capture_output=True)
        subprocess.run(["ip", "netns", "exec", C.netns[i], "tc", "qdisc", "del", "dev", "eth0", "root"],
                       capture_output=True)
        pid = C.slurmd_pid(i)
        if not pid or not os.path.exists(f"/proc/{pid}"):
            log(f"slurmd of {C.nodes[i]} is not running: starting it")
            C.start_slurmd(i)
    C.wait_idle(90)


try:
    heal()
except RuntimeError as e:
    check(False, f"the cluster is up with three idle nodes: {e}")
    finish()
NET = f"{C.subnet}.0/24"


def toy(name, n, seed):
    path = os.path.join(WORK, name)
    subprocess.run(["/usr/bin/python3", os.path.join(A.source, "tests", "tools", "toy_data.py"), path, "--n", str(n),
                    "--seed", str(seed)], check=True)
    return path


def weights(path):
    """Weights and optimizer state of a checkpoint, as bytes."""
    with h5py.File(path, "r") as f:
        w = b"".join(f["weights"][g][d][()].tobytes() for g in sorted(f["weights"]) for d in ("kernel", "bias"))
        s = b"".join(f["state"][k][()].tobytes() for k in ("optimizer_m", "optimizer_v", "optimizer_t", "step"))
    return w, s


def n_params(path):
    with h5py.File(path, "r") as f:
        return sum(f["weights"][g][d].size for g in f["weights"] for d in ("kernel", "bias"))


def reference(name, train, args, val=None):
    """The same training as one process, uninterrupted: the checkpoint's weights and its path."""
    out = os.path.join(WORK, "ref-" + name)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [A.jetcnn, "train", CONFIG, "--train", train, "--out", out, "--force", *args] + (["--val", val] if val else [])
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    if not check(r.returncode == 0, f"reference: 1 process, {' '.join(args)}"):
        print(r.stdout[-2000:], r.stderr[-2000:])
        finish()
    return weights(os.path.join(out, "checkpoint.h5")), os.path.join(out, "checkpoint.h5")


def submit(script, opts, train, args, launcher="srun", ranks_per_node=None, val="", jetcnn=None, extra_env=None):
    env = dict(C.env, JETCNN=jetcnn or A.jetcnn, JETCNN_HOME=A.source, JETCNN_CONFIG=CONFIG, JETCNN_TRAIN=train,
               JETCNN_VAL=val, JETCNN_RUNS=RUNS, JETCNN_ARGS=" ".join(args), JETCNN_LAUNCHER=launcher,
               JETCNN_NET=NET, OMP_NUM_THREADS="1")
    if ranks_per_node:
        env["JETCNN_RANKS_PER_NODE"] = str(ranks_per_node)
    env.update(extra_env or {})
    out = "job-%A_%a.out" if any(o.startswith("--array") for o in opts) else "job-%j.out"
    cmd = ["sbatch", "--parsable", f"--output={WORK}/{out}", *opts, os.path.join(A.source, "jobs", script)]
    r = C.run(cmd, env=env, cwd=WORK)
    job = r.stdout.strip().split(";")[0]
    if not check(r.returncode == 0 and job.isdigit(), f"sbatch {' '.join(opts)} jobs/{script}: job {job}"):
        print(r.stdout, r.stderr)
        finish()
    return job


TERMINAL = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE")


def wait_job(job, pred, timeout, what):
    t0 = time.time()
    info = {}
    while time.time() - t0 < timeout:
        info = C.job(job)
        if pred(info):
            return info, time.time() - t0
        time.sleep(0.2)
    check(False, f"job {job}: {what} within {timeout} s (now {info.get('JobState')}, Restarts={info.get('Restarts')})")
    print(job_log(job)[-4000:], C.logs())
    return info, None


def wait_done(job, timeout):
    return wait_job(job, lambda i: i.get("JobState") in TERMINAL, timeout, "finished")


def job_log(job):
    p = os.path.join(WORK, f"job-{job}.out")
    return open(p, errors="replace").read() if os.path.exists(p) else "(no job output)"


def run_dir(job):
    return os.path.join(RUNS, str(job))


def checkpoint_steps(d):
    return sorted(int(f[11:23]) for f in (os.listdir(d) if os.path.isdir(d) else []) if re.match(r"checkpoint-\d{12}\.h5$", f))


def wait_checkpoint(d, at_least, timeout, what):
    t0 = time.time()
    while time.time() - t0 < timeout:
        s = checkpoint_steps(d)
        if s and s[-1] >= at_least:
            return s[-1]
        time.sleep(0.05)
    check(False, f"{what}: a checkpoint at step >= {at_least} within {timeout} s (have {checkpoint_steps(d)})")
    return None


def completed(info):
    return info.get("JobState") == "COMPLETED" and info.get("ExitCode") == "0:0"


def jetcnn_pids(run):
    """Ranks of jetcnn training in run directory `run`, in any node's network namespace."""
    out = []
    for p in vcluster.pids_in_netns(C.netns):
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == b"jetcnn" and run.encode() in argv:
            out.append(p)
    return out


def wait_no_ranks(run, timeout):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if not jetcnn_pids(run):
            return time.time() - t0
        time.sleep(0.2)
    return None


def restore_node(i, timeout=90):
    """Bring node i back (slurmd started if it is not running, link up); seconds until it is idle."""
    t0 = time.time()
    subprocess.run(["ip", "link", "set", C.veth[i], "up"], check=True)
    pid = C.slurmd_pid(i)
    if not pid or not os.path.exists(f"/proc/{pid}"):
        C.start_slurmd(i)
    while time.time() - t0 < timeout:
        if C.node_states().get(C.nodes[i]) == "idle":
            return time.time() - t0
        time.sleep(0.2)
    check(False, f"node {C.nodes[i]} back within {timeout} s: {C.node_states()}")
    print(C.logs())
    finish()


# ---------------------------------------------------------------------------------------------
def case_multinode():
    train = toy("train.h5", 1000, 5)
    args = ["--set", "epochs=1"]
    ref, ref_path = reference("1proc", train, args)
    grad_bytes = n_params(ref_path) * 8          # the gradient allreduce sums int64 fixed point
    steps = 32                                   # 1000 jets, batch 32: 32 steps (drop_last)
    expect = steps * grad_bytes
    log(f"expected allreduce volume per node and direction: {steps} steps x {grad_bytes} B = {expect / 1e6:.2f} MB")
    summary = []
    for launcher in ("srun", "mpirun"):
        for rpn in (1, 2):
            before = C.link_bytes()
            job = submit("train-multinode.sbatch", ["--nodes=3", "--cpus-per-task=1", "--time=30"], train, args,
                         launcher=launcher, ranks_per_node=rpn)
            info, took = wait_done(job, 180)
            after = C.link_bytes()
            text = job_log(job)
            if not check(completed(info), f"{launcher} 3 nodes x {rpn} ranks: job {job} {info.get('JobState')} "
                         f"exit {info.get('ExitCode')} in {took or 0:.1f} s"):
                print(text[-3000:])
                continue
            check(f"3 nodes x {rpn} ranks x 1 threads" in text and f"{3 * rpn} ranks x 1 thread" in text,
                  f"{launcher}: the job trained on {3 * rpn} ranks over n[1-3]")
            ck = os.path.join(run_dir(job), "checkpoint.h5")
            check(os.path.exists(ck) and weights(ck) == ref,
                  f"{launcher} 3 x {rpn}: weights and optimizer state byte-identical to the 1-process run")
            per = {v: (after[v][0] - before[v][0], after[v][1] - before[v][1]) for v in C.veth}
            total = sum(rx for rx, _ in per.values())
            summary.append((launcher, rpn, total, per))
            check(all(rx >= expect and tx >= expect for rx, tx in per.values()),
                  f"{launcher} 3 x {rpn}: every node sent and received >= {expect / 1e6:.2f} MB over its veth link: "
                  + ", ".join(f"{n} sent {rx / 1e6:.2f} MB, received {tx / 1e6:.2f} MB"
                              for n, (rx, tx) in zip(C.nodes, per.values())))
    for launcher, rpn, total, _ in summary:
        log(f"bytes over the links: {launcher} 3 x {rpn}: {total / 1e6:.1f} MB sent by the nodes in all "
            f"(expected allreduce volume {3 * expect / 1e6:.1f} MB = 3 nodes x {expect / 1e6:.2f} MB)")


# ---------------------------------------------------------------------------------------------
def node_loss(mode, launcher):
    """Kill (mode kill) or cut off (mode link) node n3 mid-epoch; the job requeues and resumes on n1, n2."""
    train = toy("train.h5", 3000, 5)
    epochs = 3 if mode == "kill" else 2
    args = ["--set", f"epochs={epochs}", "--set", "checkpoint_every=4"]
    ref, _ = reference("1proc", train, args)
    # the three nodes share this machine's cores: mpirun's default --bind-to core would put the three
    # ranks (rank 0 of each node) on the same core
    job = submit("train-multinode.sbatch", ["--nodes=2-3", "--cpus-per-task=1", "--time=30"], train, args,
                 launcher=launcher, ranks_per_node=1, extra_env={"JETCNN_MPIRUN_BIND": "none"})
    run = run_dir(job)
    info, _ = wait_job(job, lambda i: i.get("JobState") == "RUNNING", 60, "running")
    check(info.get("NodeList") == "n[1-3]", f"job {job} started on all three nodes: {info.get('NodeList')}")
    step = wait_checkpoint(run, 12, 120, f"job {job} is training")
    if step is None:
        finish()
    i3 = 2
    t_loss = time.time()
    if mode == "kill":
        pids = C.node_pids(i3)
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log(f"SIGKILL to node n3's {len(pids)} processes (slurmd, slurmstepd, ranks) after checkpoint step {step}")
    else:
        subprocess.run(["ip", "link", "set", C.veth[i3], "down"], check=True)
        log(f"link of node n3 cut ({C.veth[i3]} down) after checkpoint step {step}")
    limit = 60 if mode == "kill" else vcluster.SLURMD_TIMEOUT + 60
    # the first run has ended once the job is requeued (by slurm-run.sh or by slurmctld); meanwhile
    # note when the last rank on the nodes that are left (n1, n2) is gone
    survivors = [p for p in jetcnn_pids(run) if p not in vcluster.pids_in_netns([C.netns[i3]])]
    ranks_gone = ended = None
    while time.time() - t_loss < limit + 30 and (ranks_gone is None or ended is None):
        if ranks_gone is None and not any(os.path.exists(f"/proc/{p}") for p in survivors):
            ranks_gone = round(time.time() - t_loss, 1)
        if ended is None and int(C.job(job).get("Restarts", "0")) >= 1:
            ended = time.time() - t_loss
        time.sleep(0.1)
    ended = ended if ended is not None else time.time() - t_loss
    check(ended <= limit and ranks_gone is not None and ranks_gone <= limit,
          f"{mode}: the job ended and requeued {ended:.1f} s after the node loss (limit {limit} s); "
          f"the ranks on n1, n2 were gone after {ranks_gone} s")
    if mode == "kill":
        gone = wait_no_ranks(run, 30)
        check(gone is not None, f"no rank of the first run left {ended + (gone or 30):.1f} s after the kill")
    steps_now = checkpoint_steps(run)
    ck = os.path.join(run, "checkpoint.h5")
    try:
        with h5py.File(ck, "r") as f:
            ck_step = int(f["state"]["step"][()].reshape(-1)[0])
        intact = True
    except (OSError, KeyError) as e:
        intact, ck_step = False, f"unreadable: {e}"
    check(intact and steps_now and ck_step == steps_now[-1],
          f"the newest checkpoint is intact: checkpoint.h5 at step {ck_step}, newest kept {steps_now[-1:]}")
    info, _ = wait_job(job, lambda i: i.get("JobState") == "RUNNING" and int(i.get("Restarts", "0")) >= 1, 90,
                       "running again")
    t_restart = time.time() - t_loss
    text = job_log(job)
    resumed_on_two = re.search(r"restart 1\) on [^:]*: 2 nodes x 1 ranks", text) is not None
    if not resumed_on_two:  # the line is written a moment after the job starts
        time.sleep(3)
        text = job_log(job)
        resumed_on_two = re.search(r"restart 1\) on [^:]*: 2 nodes x 1 ranks", text) is not None
    check(resumed_on_two, f"restart 1 ({t_restart:.1f} s after the loss) runs on the two nodes left: "
          f"{(re.findall(r'restart 1.*', text) or ['?'])[0]}")
    if mode == "link":  # the link comes back while the job runs on two nodes
        subprocess.run(["ip", "link", "set", C.veth[i3], "up"], check=True)
        t_back = time.time()
    if mode == "kill":
        # now the other way: n3 comes back; a USR1 checkpoints, requeues, and the job resumes on 3 nodes
        back = restore_node(i3)
        log(f"node n3 back and idle after {back:.1f} s")
        resumed = wait_checkpoint(run, (steps_now[-1] if steps_now else 0) + 8, 120, "the resumed run is training")
        r = C.run(["scancel", "--signal=USR1", "--full", job])
        check(r.returncode == 0 and resumed is not None, "scancel --signal=USR1 --full to the 2-node run")
        wait_job(job, lambda i: int(i.get("Restarts", "0")) >= 2, 60, "requeued after the USR1")
    info, took = wait_done(job, 240)
    text = job_log(job)
    if not check(completed(info), f"job {job} finished: {info.get('JobState')} exit {info.get('ExitCode')}, "
                 f"Restarts={info.get('Restarts')}"):
        print(text[-5000:])
    if mode == "kill":
        check(re.search(r"restart 2\) on n\[1-3\]: 3 nodes x 1 ranks", text) is not None,
              "restart 2 (after the USR1) ran on all three nodes again")
        check(text.count("resuming ") >= 2, "both restarts resumed from the checkpoint")
    check(os.path.exists(ck) and weights(ck) == ref,
          "final weights and optimizer state byte-identical to the uninterrupted 1-process run")
    if mode == "link":
        restore_node(i3)
        back = time.time() - t_back
        gone = wait_no_ranks(run, 60)
        check(gone is not None, f"link back: node n3 idle {back:.1f} s after the link came back, and no rank of the "
              f"first run is left ({(back + (gone or 60)):.1f} s after)")
    check(not jetcnn_pids(run), "no jetcnn process of this job is left on any node")
    log(f"node loss ({mode}, {launcher}): ranks on n1, n2 gone after {ranks_gone} s, job requeued after {ended:.1f} s, "
        f"ran again after {t_restart:.1f} s")


# ---------------------------------------------------------------------------------------------
FAKE = r"""#!/bin/bash
# stand-in for jetcnn train: FAKE_MODE=exit:N exits N at once; FAKE_MODE=wait sleeps until USR1/TERM,
# then exits 75 like jetcnn after its checkpoint (but writes none)
case $FAKE_MODE in
  exit:*) echo "fake jetcnn: exit ${FAKE_MODE#exit:}"; exit "${FAKE_MODE#exit:}" ;;
  wait) trap 'echo "fake jetcnn: USR1 at $(date +%s)"; exit 75' USR1
        trap 'echo "fake jetcnn: TERM at $(date +%s)"; exit 75' TERM
        echo "fake jetcnn: started at $(date +%s)"
        sleep 300 & wait ;;
esac
"""


def case_policy():
    fake = os.path.join(WORK, "fake-jetcnn")
    with open(fake, "w") as f:
        f.write(FAKE)
    os.chmod(fake, 0o755)
    train = os.path.join(WORK, "unused.h5")
    one = ["--nodes=1", "--cpus-per-task=1"]
    j_refuse = submit("train-multinode.sbatch", one + ["--time=30"], train, [], ranks_per_node=1, jetcnn=fake,
                      extra_env={"FAKE_MODE": "exit:3"})
    j_loop = submit("train-multinode.sbatch", one + ["--time=30"], train, [], ranks_per_node=1, jetcnn=fake,
                    extra_env={"FAKE_MODE": "exit:75"})
    j_time = submit("train-multinode.sbatch", one + ["--time=1"], train, [], ranks_per_node=1, jetcnn=fake,
                    extra_env={"FAKE_MODE": "wait"})
    info, _ = wait_done(j_refuse, 60)
    text = job_log(j_refuse)
    check(info.get("JobState") == "FAILED" and info.get("ExitCode") == "3:0" and info.get("Restarts") == "0"
          and "not requeueing (exit 3" in text,
          f"exit 3 (jetcnn refused its input): not requeued, job {info.get('JobState')} exit {info.get('ExitCode')}, "
          f"Restarts={info.get('Restarts')}")
    # --time=1 with the 600 s lead: SLURM's USR1 comes at once and must be ignored; the script's own
    # timer checkpoints 30 s before the end
    info, _ = wait_job(j_time, lambda i: int(i.get("Restarts", "0")) >= 1, 90, "checkpointed and requeued")
    text = job_log(j_time)
    m_start = re.search(r"fake jetcnn: started at (\d+)", text)
    m_sig = re.search(r"fake jetcnn: USR1 at (\d+)", text)
    after = int(m_sig.group(1)) - int(m_start.group(1)) if m_start and m_sig else None
    check("checkpointing 30 s before the end instead" in text,
          "--time=1 with --signal=B:USR1@600: the script adapts the lead to 30 s")
    check(after is not None and 20 <= after <= 40,
          f"the first run got its USR1 {after} s after it started (SLURM's early one ignored, its own at ~30 s)")
    check("requeueing job" in text, "then exit 75 and requeue")
    log("SLURM's own early USR1 " + ("came and was ignored" if "ignoring SLURM's early USR1" in text else
                                     "did not come before the script's own signal"))
    C.run(["scancel", j_time])
    info, took = wait_done(j_loop, 120)
    text = job_log(j_loop)
    check(info.get("JobState") == "FAILED" and info.get("Restarts") == "2" and info.get("ExitCode") == "75:0"
          and "not requeueing: 2 restarts in a row wrote no newer checkpoint" in text,
          f"exit 75 without a newer checkpoint: requeued twice, then not (job {info.get('JobState')}, "
          f"Restarts={info.get('Restarts')}, exit {info.get('ExitCode')})")
    state = open(os.path.join(run_dir(j_loop), "requeue.state")).read() \
        if os.path.exists(os.path.join(run_dir(j_loop), "requeue.state")) else ""
    check("runs=3" in state and "fruitless=2" in state, f"requeue.state records 3 runs, 2 fruitless: {state.split()}")
    wait_done(j_time, 30)


# ---------------------------------------------------------------------------------------------
def case_array():
    train = toy("train.h5", 2000, 5)
    val = toy("val.h5", 300, 6)
    test = toy("test.h5", 500, 7)
    args = ["--set", "checkpoint_every=4"]
    refs = {s: reference(f"seed{s}", train, args + ["--set", f"seed={s}"], val=val)[0] for s in (1, 2)}
    job = submit("train.sbatch", ["--array=1-3", "--nodes=1", "--ntasks-per-node=2", "--cpus-per-task=1",
                                 "--time=30"], train, args, val=val)
    tasks = {t: f"{job}_{t}" for t in (1, 2, 3)}
    dirs = {t: os.path.join(RUNS, f"{job}_{t}") for t in tasks}
    step = wait_checkpoint(dirs[2], 8, 120, "array task 2 is training")
    r = C.run(["scancel", "--signal=USR1", "--full", tasks[2]])
    check(r.returncode == 0 and step is not None, f"scancel --signal=USR1 --full {tasks[2]} at step >= {step}")
    infos = {}
    for t, tid in tasks.items():
        infos[t], _ = wait_done(tid, 240)
        check(completed(infos[t]), f"array task {tid}: {infos[t].get('JobState')} exit {infos[t].get('ExitCode')} "
              f"Restarts={infos[t].get('Restarts')}")
    for t, d in dirs.items():
        cfg = open(os.path.join(d, "config.cfg")).read() if os.path.exists(os.path.join(d, "config.cfg")) else ""
        check(re.search(rf"^seed\s*=\s*{t}\s*$", cfg, re.M) is not None,
              f"task {t}: run directory runs/{job}_{t}, config.cfg has seed = {t}")
    files = sorted(os.listdir(dirs[1])) if os.path.isdir(dirs[1]) else []
    check([f for f in files if not f.startswith("checkpoint-")] == ["checkpoint.h5", "config.cfg", "metrics.csv",
                                                                     "requeue.state"],
          f"task 1 run directory: {files}")
    rows = open(os.path.join(dirs[1], "metrics.csv")).read().splitlines() \
        if os.path.exists(os.path.join(dirs[1], "metrics.csv")) else []
    check(len(rows) == 3 and all(re.match(r"\d,\d+,[^,]+,[0-9.]+,[0-9.]+,[0-9.]+,[0-9.]+,0\.\d+,", r) for r in rows[1:]),
          f"task 1 metrics.csv: two epochs with validation loss, accuracy and AUC: {rows[1:]}")
    w = {t: weights(os.path.join(d, "checkpoint.h5")) for t, d in dirs.items()
         if os.path.exists(os.path.join(d, "checkpoint.h5"))}
    check(w.get(1) == refs[1], "task 1 (2 ranks, srun): weights and optimizer state equal the 1-process run of seed 1")
    text = job_log(f"{job}_2")
    check(infos[2].get("Restarts") == "1" and re.search(r"stopped by SIGUSR1: checkpointed at epoch \d, step \d+", text)
          is not None and "to resume (exit 75)" in text and re.search(r"restart 1\).*\n.*--resume", text) is not None,
          "task 2: checkpointed on USR1 (exit 75), requeued itself, restart 1 resumed (--resume)")
    check(w.get(2) == refs[2], "task 2: final weights and optimizer state byte-identical to seed 2 uninterrupted")
    check(len({w.get(t, (b"", b""))[0] for t in (1, 2, 3)}) == 3, "the three seeds trained three different nets")
    scores = []
    for t, d in dirs.items():
        out = os.path.join(WORK, f"scores-{t}.h5")
        r = subprocess.run([A.jetcnn, "predict", os.path.join(d, "checkpoint.h5"), "--data", test, "--out", out],
                           capture_output=True, text=True, timeout=120, env=dict(os.environ, OMP_NUM_THREADS="1"))
        check(r.returncode == 0, f"jetcnn predict with task {t}'s checkpoint")
        scores.append(out)
    jfile = os.path.join(WORK, "roc.json")
    r = subprocess.run([A.jetcnn, "roc", *scores, "--ensemble", "--json", jfile, "--bootstrap", "0"],
                       capture_output=True, text=True, timeout=120)
    if not check(r.returncode == 0 and os.path.exists(jfile), "jetcnn roc --ensemble on the three seeds' scores"):
        print(r.stdout[-2000:], r.stderr[-2000:])
        return
    print(r.stdout[-1500:])
    d = json.load(open(jfile))
    ens = d.get("ensemble", {})
    aucs = [c["auc"] for c in d.get("curves", []) if c.get("name") in [os.path.basename(p) for p in scores]
            or c.get("name") in scores]
    check(ens.get("n_members") == 3 and len(aucs) == 3 and abs(ens.get("auc_mean", 0) - statistics.mean(aucs)) < 1e-9
          and abs(ens.get("auc_std", 0) - statistics.stdev(aucs)) < 1e-6 and ens.get("auc_std", 0) > 0,
          f"roc --ensemble: AUC {ens.get('auc_mean')} +- {ens.get('auc_std')} over {ens.get('n_members')} seeds "
          f"(the mean and sample std of {[round(a, 4) for a in aucs]})")
    check(any(c.get("name") == "ensemble (mean of 3)" for c in d.get("curves", [])), "roc --ensemble: the mean-score curve")


# ---------------------------------------------------------------------------------------------
PROFILE_RE = re.compile(r"^  ranks: compute \(read\+forward\+backward\) min ([0-9.]+) s, max ([0-9.]+) s on rank (\d+) "
                        r"\(([^)]+)\); allreduce wait min ([0-9.]+) s, max ([0-9.]+) s on rank (\d+) \(([^)]+)\)$", re.M)


def timing_run(train, what, slow):
    """3 nodes x 1 rank with --profile while `slow` (a context manager) acts; the last epoch's row of
    metrics.csv (dict) and the job's `ranks:` profile lines."""
    # 384 / 64 = 6 micro-batches per step, 2 for each of the 3 ranks; few steps, so that compute
    # rather than the busy-waiting allreduce of 3 ranks on 2 cores fills the epoch
    args = ["--set", "epochs=1", "--set", "batch=384", "--set", "micro_batch=64", "--profile"]
    job = submit("train-multinode.sbatch", ["--nodes=3", "--cpus-per-task=1", "--time=30"], train, args,
                 ranks_per_node=1)
    with slow as s:
        info, took = wait_done(job, 180)
    text = job_log(job)
    if not check(completed(info), f"{what}: job {job} {info.get('JobState')} exit {info.get('ExitCode')} in "
                 f"{took or 0:.1f} s"):
        print(text[-3000:])
    path = os.path.join(run_dir(job), "metrics.csv")
    rows = list(csv.DictReader(open(path))) if os.path.exists(path) else []
    lines = [m.group(0) for m in PROFILE_RE.finditer(text)]
    for line in lines:
        log(f"{what}: --profile says:{line}")
    return (rows[-1] if rows else {}), PROFILE_RE.findall(text), s, job


def case_slow():
    """Issue 12, "Seeing a slow node". A slow node: n2's rank (rank 1) limited to 10 % of a CPU (cgroup CPU
    quota, else SIGSTOP/SIGCONT): metrics.csv and --profile must name rank 1 on host n2 as the one with
    the largest compute time, and another rank as the one waiting longest. A slow link: n3's veth
    limited to 20 Mbit/s each way (tc tbf): the time must appear as allreduce wait on every rank
    (at least half of steps x gradient bytes / rate), with compute flat (below that wait)."""
    train = toy("train.h5", 2000, 5)
    row, prof, s, job = timing_run(train, "slow node n2", vcluster.Slowdown(C, 1, 0.1))
    log(f"slow node: {s.how}, ranks slowed: {sorted(s.pids)}; metrics.csv: " +
        ", ".join(f"{k}={row.get(k)}" for k in ("compute_min_s", "compute_max_s", "compute_max_rank", "compute_max_host",
                                               "wait_min_s", "wait_max_s", "wait_max_rank", "wait_max_host")))
    check(len(s.pids) == 1, f"the rank on n2 was slowed ({len(s.pids)} process)")
    check(row.get("compute_max_rank") == "1" and row.get("compute_max_host") == "n2",
          f"metrics.csv names rank 1 on n2 as the slowest in compute: rank {row.get('compute_max_rank')} "
          f"host {row.get('compute_max_host')}")
    check(row.get("wait_max_rank") not in (None, "1"),
          f"metrics.csv: a fast rank waited longest in the allreduce (rank {row.get('wait_max_rank')} "
          f"host {row.get('wait_max_host')})")
    check(bool(prof) and prof[-1][2] == "1" and prof[-1][3] == "n2" and prof[-1][6] != "1",
          f"--profile names rank 1 (n2) for the compute max and another rank for the wait max: {prof[-1:]}")

    rate_bits = 20e6
    ck = os.path.join(run_dir(job), "checkpoint.h5")
    grad_bytes = (n_params(ck) if os.path.exists(ck) else 0) * 8
    row, prof, _, _ = timing_run(train, "slow link n3", vcluster.SlowLink(C, 2, "20mbit"))
    steps = 2000 // 384
    floor = steps * grad_bytes / (rate_bits / 8)
    log(f"slow link: at least {steps} steps x {grad_bytes} B / 20 Mbit/s = {floor:.1f} s of transfer per epoch")
    try:
        wait_min, compute_max = float(row["wait_min_s"]), float(row["compute_max_s"])
    except (KeyError, ValueError):
        wait_min = compute_max = None
    check(wait_min is not None and wait_min >= 0.5 * floor,
          f"metrics.csv: every rank waited in the allreduce >= {0.5 * floor:.1f} s (wait_min_s {wait_min})")
    check(wait_min is not None and compute_max < wait_min,
          f"metrics.csv: compute stays below the wait (compute_max_s {compute_max} < wait_min_s {wait_min})")
    check(bool(prof) and float(prof[-1][4]) >= 0.5 * floor, f"--profile shows the wait on every rank: {prof[-1:]}")


CASES = {"multinode": case_multinode, "kill": lambda: node_loss("kill", A.launcher),
         "link": lambda: node_loss("link", A.launcher), "policy": case_policy, "array": case_array, "slow": case_slow}
try:
    CASES[A.case]()
finally:
    try:
        heal()   # never leave a node dead, cut off or slowed for the next case
    except RuntimeError as e:
        check(False, f"the cluster back to three idle nodes after the case: {e}")
finish()
