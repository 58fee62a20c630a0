#!/usr/bin/python3
"""Training with a fixed global batch on P = 1, 2, 3, 4 ranks (and 1 vs 2 threads) gives
checkpoint weights identical byte for byte (every tensor under /weights: kernels, biases,
batch norm's scales, shifts and running statistics), and identical per-epoch losses. The
batch (96) and the file (1000 jets by default, a short last block) are chosen so that P
divides neither. With --state the model must have running statistics, and they must have
moved from their initial values (else the comparison proves nothing about them)."""
import argparse
import os
import subprocess
import sys

try:
    import h5py
except ImportError as e:
    sys.exit(f"FAIL: needs Debian's python3-h5py ({e})")

ap = argparse.ArgumentParser()
ap.add_argument("--jetcnn", required=True)
ap.add_argument("--mpiexec", required=True)
ap.add_argument("--config", required=True)
ap.add_argument("--workdir", required=True)
ap.add_argument("--jets", type=int, default=1000, help="jets in the toy training file")
ap.add_argument("--state", action="store_true", help="the model has batch norm running statistics")
a = ap.parse_args()
os.makedirs(a.workdir, exist_ok=True)
here = os.path.dirname(os.path.abspath(__file__))
data = os.path.join(a.workdir, "jets.h5")
subprocess.run(["/usr/bin/python3", f"{here}/tools/toy_data.py", data, "--n", str(a.jets), "--seed", "5"], check=True)


def run(ranks, threads, tag):
    out = os.path.join(a.workdir, tag)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    cmd = [a.mpiexec, "--oversubscribe", "-np", str(ranks), a.jetcnn, "train", a.config, "--train", data,
           "--out", out, "--force", "--set", "epochs=2", "--set", "batch=96", "--set", "micro_batch=16",
           "--set", "normalize=none", "--set", "optimizer=momentum", "--set", "learning_rate=0.02"]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {r.returncode}\n{r.stdout}\n{r.stderr}")
    with h5py.File(os.path.join(out, "checkpoint.h5"), "r") as f:
        blob = b"".join(d.encode() + f["weights"][g][d][()].tobytes() for g in sorted(f["weights"])
                        for d in sorted(f["weights"][g]))
        means = [f["weights"][g][d][()] for g in f["weights"] for d in f["weights"][g] if d == "bn_running_mean"]
        if a.state and (not means or all(not m.any() for m in means)):
            sys.exit(f"FAIL: {out}/checkpoint.h5 holds no running statistics that moved from 0 ({len(means)} norms)")
    with open(os.path.join(out, "metrics.csv")) as f:
        losses = [line.split(",")[3] for line in f.read().splitlines()[1:]]
    return blob, losses


ref_blob, ref_losses = run(1, 1, "p1t1")
failures = 0
for ranks, threads in ((1, 2), (2, 1), (3, 1), (4, 1)):
    blob, losses = run(ranks, threads, f"p{ranks}t{threads}")
    same = blob == ref_blob and losses == ref_losses
    failures += not same
    print(f"{'ok' if same else 'FAIL'} P={ranks} threads={threads}: weights {'identical' if blob == ref_blob else 'DIFFER'}, "
          f"losses {losses} vs {ref_losses}")
sys.exit(1 if failures else 0)
