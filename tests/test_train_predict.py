#!/usr/bin/python3
"""End to end on toy data with mpiexec -np 2: train learns (validation AUC > 0.9), the run
directory holds config.cfg (with the --set override), metrics.csv and checkpoint.h5 in the
documented layout, predict writes /score, /label and the pass-through /jet_mass, and a
second train into the same directory without --force is refused."""
import argparse
import csv
import os
import subprocess
import sys

try:
    import h5py
    import numpy as np
except ImportError as e:
    sys.exit(f"FAIL: needs Debian's python3-h5py and python3-numpy ({e})")

ap = argparse.ArgumentParser()
ap.add_argument("--jetcnn", required=True)
ap.add_argument("--mpiexec", required=True)
ap.add_argument("--config", required=True)
ap.add_argument("--workdir", required=True)
a = ap.parse_args()
os.makedirs(a.workdir, exist_ok=True)
here = os.path.dirname(os.path.abspath(__file__))
train, val = os.path.join(a.workdir, "train.h5"), os.path.join(a.workdir, "val.h5")
for path, n, seed in ((train, 3000, 1), (val, 700, 2)):
    subprocess.run(["/usr/bin/python3", f"{here}/tools/toy_data.py", path, "--n", str(n), "--seed", str(seed)], check=True)
run = os.path.join(a.workdir, "run")
failures = []


def check(cond, what):
    print(("ok " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


mpi = [a.mpiexec, "--oversubscribe", "-np", "2", a.jetcnn]
cmd = mpi + ["train", a.config, "--train", train, "--val", val, "--out", run, "--force",
             "--set", "epochs=3", "--set", "normalize=none"]
r = subprocess.run(cmd, capture_output=True, text=True)
check(r.returncode == 0, f"train exits 0 (got {r.returncode}: {r.stderr.strip()[-300:]})")
rows = list(csv.DictReader(open(os.path.join(run, "metrics.csv"))))
check(len(rows) == 3, f"metrics.csv has 3 epochs ({len(rows)})")
check(float(rows[-1]["val_auc"]) > 0.9, f"validation AUC > 0.9 after 3 epochs ({rows[-1]['val_auc']})")
check(float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"]), "training loss decreases")
cfg_text = open(os.path.join(run, "config.cfg")).read()
check("epochs = 3" in cfg_text and "normalize = none" in cfg_text, "config.cfg records the --set overrides")
with h5py.File(os.path.join(run, "checkpoint.h5"), "r") as f:
    check(f.attrs["format"] in ("jetcnn-1", b"jetcnn-1"), "checkpoint format attribute is jetcnn-1")
    check(f["weights/layer00/kernel"].shape == (8, 1, 4, 4), "conv kernel stored as (K,C,F,F)")
    check(f["weights/layer06/kernel"].shape == (64, 800), "dense kernel stored as (out,in)")
    check(int(f["state/epoch"][0]) == 3, "state/epoch = 3")
check(not any(n.endswith(".tmp") for n in os.listdir(run)), "no temporary files left in the run directory")

scores = os.path.join(run, "scores.h5")
r = subprocess.run(mpi + ["predict", os.path.join(run, "checkpoint.h5"), "--data", val, "--out", scores],
                   capture_output=True, text=True)
check(r.returncode == 0, f"predict exits 0 ({r.stderr.strip()[-300:]})")
with h5py.File(scores, "r") as f, h5py.File(val, "r") as v:
    s, lab = f["score"][()], f["label"][()]
    check(s.shape == (700,) and np.all((s >= 0) & (s <= 1)), "700 scores in [0, 1]")
    check(np.array_equal(lab, v["labels"][()]), "/label equals the input labels in order")
    check(np.allclose(f["jet_mass"][()], v["jet_mass"][()]), "/jet_mass passed through")
    acc = np.mean((s > 0.5) == (lab == 1))
    check(acc > 0.85, f"prediction accuracy > 0.85 ({acc:.3f})")

r = subprocess.run(mpi + ["train", a.config, "--train", train, "--out", run], capture_output=True, text=True)
check(r.returncode == 2 and "already holds a checkpoint" in r.stderr, f"existing run directory refused (rc {r.returncode})")
sys.exit(1 if failures else 0)
