#!/usr/bin/python3
"""Seeing a slow node (issue 12): per-rank compute and allreduce-wait times name the slow rank.

Trains 2 epochs on 2 ranks (a model whose steps take tens of ms of compute, so that the pauses
land mostly in compute) while rank 1 is slowed down: this script stops it with SIGSTOP for
80 ms of every 100 ms (found through /proc: the jetcnn process whose environment says
OMPI_COMM_WORLD_RANK=1 and whose command line holds this run's directory). Checks, for every
epoch, in metrics.csv and in the --profile output:
  - the columns and the line have the documented format (docs/formats.md, docs/cluster.md);
  - rank 1 has the largest compute time, at least 1.5 times rank 0's, and rank 0 waits longest;
  - the --profile line and the metrics.csv row carry the same numbers.
Then the same run on 1 rank: min = max, rank 0.

usage: test_slow_rank.py --jetcnn BIN --mpiexec MPIEXEC --workdir DIR
"""
import argparse
import csv
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

try:
    import h5py
    import numpy as np
except ImportError as e:
    sys.exit(f"test_slow_rank.py: needs Debian's python3-h5py and numpy ({e})")

CFG = """\
[net]
input = 40x40x1
batch = 128
micro_batch = 32
epochs = 2
optimizer = adam
learning_rate = 0.001
seed = 3

[conv]
filters = 8
size = 4
pad = same
activation = relu

[conv]
filters = 8
size = 4
pad = same
activation = relu

[maxpool]
size = 2

[dense]
units = 32
activation = relu

[dense]
units = 2
activation = softmax
"""
COLUMNS = ("epoch,step,lr,train_loss,train_acc,val_loss,val_acc,val_auc,val_rej30,img_per_s,seconds,"
           "compute_min_s,compute_max_s,compute_max_rank,compute_max_host,wait_min_s,wait_max_s,wait_max_rank,"
           "wait_max_host").split(",")
PROFILE = re.compile(r"^  ranks: compute \(read\+forward\+backward\) min ([0-9.]+) s, max ([0-9.]+) s on rank (\d+) "
                     r"\(([^)]+)\); allreduce wait min ([0-9.]+) s, max ([0-9.]+) s on rank (\d+) \(([^)]+)\)$", re.M)

failures = 0


def check(cond, what):
    global failures
    print(f"{'ok  ' if cond else 'FAIL'} {what}")
    failures += not cond
    return cond


def rank_pid(rank, marker, deadline):
    """pid of the jetcnn process of MPI rank `rank` whose command line contains marker."""
    while time.monotonic() < deadline:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().split(b"\0")
                with open(f"/proc/{pid}/environ", "rb") as f:
                    env = f.read().split(b"\0")
            except OSError:
                continue
            if cmd and cmd[0].endswith(b"jetcnn") and marker.encode() in cmd and \
                    f"OMPI_COMM_WORLD_RANK={rank}".encode() in env:
                return int(pid)
        time.sleep(0.05)
    return None


def slow_down(pid, stop):
    """SIGSTOP pid for 80 ms of every 100 ms until stop is set (or the process is gone)."""
    try:
        while not stop.is_set():
            os.kill(pid, signal.SIGSTOP)
            time.sleep(0.080)
            os.kill(pid, signal.SIGCONT)
            time.sleep(0.020)
    except ProcessLookupError:
        pass
    finally:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


def train(a, ranks, out, slow_rank=None):
    cmd = [a.mpiexec, "--oversubscribe", "-np", str(ranks), a.jetcnn, "train", a.cfg, "--train", a.data,
           "--out", out, "--profile"]
    env = dict(os.environ, OMP_NUM_THREADS="1", JETCNN_PROGRESS="none")
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    stop, slower = threading.Event(), None
    if slow_rank is not None:
        pid = rank_pid(slow_rank, out, time.monotonic() + 30)
        if not check(pid is not None, f"found the pid of rank {slow_rank}"):
            p.kill()
            p.communicate()
            return None, None
        slower = threading.Thread(target=slow_down, args=(pid, stop))
        slower.start()
    try:
        stdout, stderr = p.communicate(timeout=240)
    finally:
        stop.set()
        if slower:
            slower.join()
    if not check(p.returncode == 0, f"{' '.join(cmd)} exits 0 (got {p.returncode})"):
        print(stderr[-2000:])
        return None, None
    with open(os.path.join(out, "metrics.csv"), newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = [dict(zip(header, r)) for r in reader]
    check(header == COLUMNS, f"metrics.csv header {header}")
    return rows, PROFILE.findall(stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jetcnn", required=True)
    ap.add_argument("--mpiexec", default="mpiexec")
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    shutil.rmtree(a.workdir, ignore_errors=True)
    os.makedirs(a.workdir)
    a.cfg = os.path.join(a.workdir, "slow.cfg")
    with open(a.cfg, "w") as f:
        f.write(CFG)
    a.data = os.path.join(a.workdir, "jets.h5")
    rng = np.random.default_rng(1)
    with h5py.File(a.data, "w") as f:
        f["images"] = rng.exponential(1.0, size=(2048, 40, 40)).astype(np.float32)
        f["labels"] = (rng.random(2048) < 0.5).astype(np.int32)

    rows, lines = train(a, 2, os.path.join(a.workdir, "p2"), slow_rank=1)
    if rows is not None:
        check(len(rows) == 2 and len(lines) == 2, f"2 epochs: {len(rows)} metrics rows, {len(lines)} profile lines")
        for row, line in zip(rows, lines):
            e = row["epoch"]
            cmin, cmax, wmin, wmax = (float(row[k]) for k in ("compute_min_s", "compute_max_s", "wait_min_s",
                                                               "wait_max_s"))
            check(row["compute_max_rank"] == "1", f"epoch {e}: the slowed rank 1 computes longest "
                  f"({cmax:.2f} s vs {cmin:.2f} s on the other)")
            check(cmax >= 1.5 * cmin, f"epoch {e}: at least 1.5 times as long ({cmax:.2f} s >= 1.5 x {cmin:.2f} s)")
            check(row["wait_max_rank"] == "0", f"epoch {e}: rank 0 waits longest for it ({wmax:.2f} s, "
                  f"rank 1 {wmin:.2f} s)")
            check(row["compute_max_host"] and row["wait_max_host"], f"epoch {e}: hosts named "
                  f"({row['compute_max_host']}, {row['wait_max_host']})")
            same = (line[0], line[1], line[2], line[3], line[4], line[5], line[6], line[7]) == (
                row["compute_min_s"], row["compute_max_s"], row["compute_max_rank"], row["compute_max_host"],
                row["wait_min_s"], row["wait_max_s"], row["wait_max_rank"], row["wait_max_host"])
            check(same, f"epoch {e}: --profile line {line} matches the metrics.csv row")

    rows, lines = train(a, 1, os.path.join(a.workdir, "p1"))
    if rows is not None:
        r = rows[-1]
        check(r["compute_min_s"] == r["compute_max_s"] and r["compute_max_rank"] == "0" and
              r["wait_min_s"] == r["wait_max_s"] and r["wait_max_rank"] == "0",
              f"1 rank: min = max, rank 0 ({r['compute_min_s']}, {r['compute_max_s']}, {r['wait_min_s']})")
    print(f"{'FAILED' if failures else 'passed'}: {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
