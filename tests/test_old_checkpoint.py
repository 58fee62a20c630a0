#!/usr/bin/python3
"""Checkpoints written before batch norm and shortcuts still load (tests/fixtures: a tiny
model trained by jetcnn at main 4f096a2 on toy data made here with the same seed).

  predict   the old final checkpoint scores the jets as the old build did (|diff| <= 1e-6)
  resume    the old mid-epoch checkpoint (step 5 of 20) resumes to the old final weights and
            optimizer state (relative 1e-5 per tensor; the same bits on the machine that
            wrote them, OpenBLAS may choose other kernels on another CPU)
  init      --init from the old checkpoint starts a run; export writes an ONNX model
Each comparison is also shown to fail on a perturbed copy.
"""
import argparse
import os
import shutil
import subprocess
import sys

try:
    import h5py
    import numpy as np
except ImportError as e:  # a missing dependency is a failure, never a skip
    sys.exit(f"FAIL: needs Debian's python3-h5py and numpy ({e})")

ap = argparse.ArgumentParser()
ap.add_argument("--jetcnn", required=True)
ap.add_argument("--workdir", required=True)
a = ap.parse_args()
here = os.path.dirname(os.path.abspath(__file__))
fix = os.path.join(here, "fixtures")
shutil.rmtree(a.workdir, ignore_errors=True)
os.makedirs(a.workdir)
data = os.path.join(a.workdir, "jets.h5")
subprocess.run(["/usr/bin/python3", f"{here}/tools/toy_data.py", data, "--n", "200", "--shape", "12x12x1", "--seed",
                "21"], check=True)
failures = 0


def check(ok, what):
    global failures
    failures += not ok
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    return ok


def run(*args):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([a.jetcnn, *args], capture_output=True, text=True, env=env)
    if not check(r.returncode == 0, f"jetcnn {' '.join(args[:2])} exits 0 (got {r.returncode})"):
        print(r.stdout[-2000:], r.stderr[-2000:])
    return r.returncode == 0


def tensors(path):
    with h5py.File(path, "r") as f:
        out = {f"weights/{g}/{d}": f["weights"][g][d][()] for g in f["weights"] for d in f["weights"][g]}
        out.update({f"state/{k}": f["state"][k][()] for k in ("optimizer_m", "optimizer_v", "optimizer_t", "step")})
    return out


def worst(got, ref):
    """Largest relative difference over the tensors of ref (inf when one is missing)."""
    e = 0.0
    for k, r in ref.items():
        g = got.get(k)
        if g is None or g.shape != r.shape:
            return np.inf
        scale = np.max(np.abs(r)) if r.size else 0.0
        d = np.max(np.abs(g.astype(np.float64) - r)) if r.size else 0.0
        e = max(e, d / scale if scale > 0 else d)
    return e


# predict
scores = os.path.join(a.workdir, "scores.h5")
if run("predict", os.path.join(fix, "old_checkpoint_final.h5"), "--data", data, "--out", scores):
    with h5py.File(scores, "r") as f, h5py.File(os.path.join(fix, "old_scores.h5"), "r") as g:
        got, ref = f["score"][()], g["score"][()]
    d = np.max(np.abs(got - ref))
    check(d <= 1e-6, f"predict: the old checkpoint's scores as the old build wrote them (max diff {d:.3g}, "
          f"{'the same bits' if np.array_equal(got, ref) else 'not bitwise'})")
    bad = ref.copy()
    bad[7] += 2e-6
    check(np.max(np.abs(got - bad)) > 1e-6, "predict: a score off by 2e-6 would be caught")

# resume from the old mid-epoch checkpoint
res = os.path.join(a.workdir, "resume")
os.makedirs(res)
shutil.copy(os.path.join(fix, "old_checkpoint_step5.h5"), os.path.join(res, "checkpoint.h5"))
if run("train", os.path.join(fix, "old_tiny.cfg"), "--train", data, "--out", res, "--resume"):
    ref = tensors(os.path.join(fix, "old_checkpoint_final.h5"))
    got = tensors(os.path.join(res, "checkpoint.h5"))
    e = worst(got, ref)
    same = all(np.array_equal(got[k], ref[k]) for k in ref)
    check(e <= 1e-5, f"resume: old step-5 checkpoint -> the old final weights and optimizer state (relative {e:.3g}, "
          f"{'the same bits' if same else 'not bitwise'})")
    key = "weights/layer02/kernel"
    bad = dict(ref, **{key: ref[key] * (1 + 1e-4)})
    check(worst(got, bad) > 1e-5, "resume: a kernel off by 1e-4 would be caught")
    check(worst(tensors(os.path.join(fix, "old_checkpoint_step5.h5")), ref) > 1e-3, "resume: the run moved the weights")

# --init and export
run("train", os.path.join(fix, "old_tiny.cfg"), "--train", data, "--out", os.path.join(a.workdir, "init"), "--init",
    os.path.join(fix, "old_checkpoint_final.h5"), "--set", "epochs=1")
run("export", os.path.join(fix, "old_checkpoint_final.h5"), "--onnx", os.path.join(a.workdir, "old.onnx"))
sys.exit(1 if failures else 0)
