#!/usr/bin/python3
"""Train small fixed runs and print one SHA-256 per run of the final checkpoint weights
(and running statistics, where a model has them), to prove that a refactoring leaves the
arithmetic bit for bit as it was. Not a test by itself (digests depend on the CPU and the
build flags): record them before a change and compare after it on the same machine.

usage: weights_digest.py --jetcnn BUILD/jetcnn --workdir DIR [--mpiexec mpiexec]
"""
import argparse
import hashlib
import os
import subprocess
import sys

try:
    import h5py
except ImportError as e:
    sys.exit(f"weights_digest.py: needs Debian's python3-h5py ({e})")

here = os.path.dirname(os.path.abspath(__file__))
src = os.path.dirname(os.path.dirname(here))
ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--jetcnn", required=True)
ap.add_argument("--workdir", required=True)
ap.add_argument("--mpiexec", default="mpiexec")
a = ap.parse_args()
os.makedirs(a.workdir, exist_ok=True)

data1 = os.path.join(a.workdir, "jets40.h5")
data2 = os.path.join(a.workdir, "jets20x2.h5")
data3 = os.path.join(a.workdir, "jets32x3.h5")
subprocess.run(["/usr/bin/python3", f"{here}/toy_data.py", data1, "--n", "600", "--seed", "5"], check=True)
subprocess.run(["/usr/bin/python3", f"{here}/toy_data.py", data2, "--n", "500", "--seed", "6", "--shape", "20x20x2",
                "--classes", "3"], check=True)
subprocess.run(["/usr/bin/python3", f"{here}/toy_data.py", data3, "--n", "300", "--seed", "7", "--shape", "32x32x3",
                "--channels-last"], check=True)

RUNS = [  # name, config, data, ranks, extra --set
    ("deeptop", f"{src}/configs/deeptop.cfg", data1, 2, ["epochs=1", "batch=64"]),
    ("lecture", f"{src}/configs/lecture.cfg", data3, 1, ["epochs=1", "batch=32"]),
    ("winograd", f"{src}/tests/winograd.cfg", data1, 2, ["epochs=1"]),
    ("every_layer", f"{here}/every_layer.cfg", data2, 2, []),
    ("every_layer_sgd", f"{here}/every_layer.cfg", data2, 1, ["optimizer=nesterov", "schedule=cosine"]),
]


def digest(ck):
    h = hashlib.sha256()
    with h5py.File(ck, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and name.split("/")[0] in ("weights", "state") and "metrics" not in name:
                h.update(name.encode())
                h.update(obj[()].tobytes())
        f.visititems(visit)
    return h.hexdigest()[:16]


for name, cfg, data, ranks, sets in RUNS:
    if not os.path.exists(cfg):
        print(f"{name}: config {cfg} missing")
        continue
    out = os.path.join(a.workdir, name)
    cmd = [a.mpiexec, "--oversubscribe", "-np", str(ranks), a.jetcnn, "train", cfg, "--train", data, "--out", out,
           "--force"]
    for s in sets:
        cmd += ["--set", s]
    env = dict(os.environ, OMP_NUM_THREADS="2", JETCNN_PROGRESS="none")
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        print(f"{name}: FAILED exit {r.returncode}: {r.stderr.strip()[-300:]}")
        continue
    print(f"{name}: {digest(os.path.join(out, 'checkpoint.h5'))}")
