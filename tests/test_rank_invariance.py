#!/usr/bin/python3
"""Training with a fixed global batch on P = 1, 2, 3, 4 ranks (and 1 vs 2 threads) gives
checkpoint weights identical byte for byte, and identical per-epoch losses. The batch
(96) and the file (1000 jets, a short last block) are chosen so that P divides neither."""
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
a = ap.parse_args()
os.makedirs(a.workdir, exist_ok=True)
here = os.path.dirname(os.path.abspath(__file__))
data = os.path.join(a.workdir, "jets.h5")
subprocess.run(["/usr/bin/python3", f"{here}/tools/toy_data.py", data, "--n", "1000", "--seed", "5"], check=True)


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
        blob = b"".join(f["weights"][g][d][()].tobytes() for g in sorted(f["weights"]) for d in ("kernel", "bias"))
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
