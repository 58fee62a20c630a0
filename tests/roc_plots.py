#!/usr/bin/python3
"""Run one analysis/ plotting script on small inputs written here and check that it writes a
non-empty PNG and PDF, that --help works, and that a bad input fails with a message.

usage: roc_plots.py {roc,training,scores,images} --analysis DIR [--jetcnn BIN]
"""
import argparse
import os
import subprocess
import sys
import tempfile

try:
    import h5py
    import numpy as np
except ImportError as exc:  # a missing module is a failure, never a skip
    sys.exit(f"roc_plots: FAIL: cannot import {exc.name} (Debian: python3-h5py python3-numpy)")


def fail(msg):
    sys.exit(f"roc_plots: FAIL: {msg}")


def run(cmd, expect_ok=True):
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "MPLBACKEND": "Agg"})
    if (proc.returncode == 0) != expect_ok:
        fail(f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout}{proc.stderr}")
    return proc


def scores_file(path, rng, n=3000):
    label = (rng.random(n) < 0.5).astype(np.int32)
    with h5py.File(path, "w") as f:
        f.attrs["format"] = np.bytes_("jetcnn-scores-1")
        f["score"] = (1 / (1 + np.exp(-(rng.normal(size=n) + 1.5 * (2 * label - 1))))).astype(np.float32)
        f["label"] = label
        f["jet_mass"] = np.where(label == 1, rng.normal(172, 20, n), rng.exponential(60, n) + 20).astype(np.float32)
        tau2 = rng.random(n).astype(np.float32)
        f["tau2"] = tau2
        f["tau3"] = (tau2 * np.where(label == 1, rng.beta(3, 2, n), rng.beta(5, 2, n))).astype(np.float32)


def metrics_log(path, with_val):
    with open(path, "w") as f:
        f.write("epoch,step,lr,train_loss,train_acc,val_loss,val_acc,val_auc,val_rej30,img_per_s,seconds\n")
        for e in range(1, 6):
            val = f"{0.6 / e},{0.7 + 0.03 * e},{0.8 + 0.03 * e},{8.0 * e}" if with_val else ",,,"
            f.write(f"{e},{100 * e},0.001,{0.55 / e},{0.72 + 0.03 * e},{val},2000,{2.5 * e}\n")


def images_file(path, rng, channels):
    n, size = 60, 16
    label = (rng.random(n) < 0.5).astype(np.int32)
    shape = (n, size, size) + ((channels,) if channels else ())
    img = np.zeros(shape, np.float32)
    for i in range(n):
        for _ in range(4 + 6 * label[i]):
            a, b = rng.integers(3, size - 3, 2)
            img[(i, a, b)] += rng.exponential(30)
    with h5py.File(path, "w") as f:
        f["images"] = img
        f["labels"] = label


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("which", choices=["roc", "training", "scores", "images"])
    ap.add_argument("--analysis", required=True, help="the analysis/ directory")
    ap.add_argument("--jetcnn", help="jetcnn executable (roc: also plot a 'jetcnn roc --csv' file)")
    args = ap.parse_args()
    script = os.path.join(args.analysis, f"plot_{args.which}.py")
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "plots", f"{args.which}.png")
        os.makedirs(os.path.dirname(out))
        if args.which == "roc":
            scores = os.path.join(tmp, "scores.h5")
            scores_file(scores, rng)
            inputs = [scores]
            if args.jetcnn:
                roc_csv = os.path.join(tmp, "roc.csv")
                run([args.jetcnn, "roc", scores, "--observable", "tau32", "--likelihood", "--bootstrap", "0",
                     "--csv", roc_csv])
                inputs.append(roc_csv)
            bad = [os.path.join(tmp, "missing.h5")]
        elif args.which == "training":
            os.makedirs(os.path.join(tmp, "run_a"))
            metrics_log(os.path.join(tmp, "run_a", "metrics.csv"), True)
            metrics_log(os.path.join(tmp, "noval.csv"), False)
            inputs = [os.path.join(tmp, "run_a"), os.path.join(tmp, "noval.csv")]
            with open(os.path.join(tmp, "bad.csv"), "w") as f:
                f.write("epoch,loss\n1,0.5\n")
            bad = [os.path.join(tmp, "bad.csv")]
        elif args.which == "scores":
            inputs = [os.path.join(tmp, "a.h5"), os.path.join(tmp, "b.h5")]
            for p in inputs:
                scores_file(p, rng)
            with h5py.File(os.path.join(tmp, "nolabel.h5"), "w") as f:
                f["score"] = np.zeros(3, np.float32)
            bad = [os.path.join(tmp, "nolabel.h5")]
        else:
            images_file(os.path.join(tmp, "img.h5"), rng, 0)
            images_file(os.path.join(tmp, "img4.h5"), rng, 2)
            inputs = [os.path.join(tmp, "img.h5")]
            run([sys.executable, script, os.path.join(tmp, "img4.h5"), "--out", os.path.join(tmp, "img4.png")])
            for p in ("img4.png", "img4.pdf"):
                if not os.path.getsize(os.path.join(tmp, p)) > 0:
                    fail(f"{p} is empty")
            bad = [os.path.join(tmp, "scores_not_images.h5")]
            scores_file(bad[0], rng)

        if "--out" not in run([sys.executable, script, "--help"]).stdout:
            fail(f"{script} --help does not describe --out")
        run([sys.executable, script, *inputs, "--out", out])
        for path, magic in ((out, b"\x89PNG"), (out[:-4] + ".pdf", b"%PDF")):
            if not os.path.isfile(path) or os.path.getsize(path) < 1000:
                fail(f"{path} missing or nearly empty")
            with open(path, "rb") as f:
                if f.read(4) != magic:
                    fail(f"{path} is not a {magic!r} file")
        proc = run([sys.executable, script, *bad, "--out", os.path.join(tmp, "bad.png")], expect_ok=False)
        if "error" not in proc.stderr or os.path.exists(os.path.join(tmp, "bad.png")):
            fail(f"bad input: no error message or a plot was written: {proc.stderr}")
    print(f"roc_plots {args.which}: ok")


if __name__ == "__main__":
    main()
