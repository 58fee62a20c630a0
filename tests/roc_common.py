"""Helpers shared by the `jetcnn roc` tests (roc_sklearn.py, roc_ensemble.py, roc_sculpting.py):
failing with a message, running a command with an expected exit code, writing scores files
with h5py, and eps_B at a working point by the definition of docs/roc.md.

A missing module is a failure, never a skip."""
import argparse
import os
import subprocess
import sys

try:
    import h5py
    import numpy as np
except ImportError as exc:
    sys.exit(f"{os.path.basename(sys.argv[0])}: FAIL: cannot import {exc.name} (Debian: python3-h5py python3-numpy)")

NAME = os.path.splitext(os.path.basename(sys.argv[0]))[0]  # the test, in every message


def parse_args(doc):
    """The options of an end-to-end roc test: --jetcnn BIN --analysis DIR."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jetcnn", required=True, help="the jetcnn executable")
    ap.add_argument("--analysis", required=True, help="the analysis/ directory")
    return ap.parse_args()


def fail(msg):
    sys.exit(f"{NAME}: FAIL: {msg}")


def run(cmd, expect_rc=0):
    """Run cmd; fail unless it exits expect_rc. Returns the CompletedProcess (text output)."""
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env={**os.environ, "MPLBACKEND": "Agg"})
    if proc.returncode != expect_rc:
        fail(f"{' '.join(map(str, cmd))} exited {proc.returncode}, expected {expect_rc}\n{proc.stdout}{proc.stderr}")
    return proc


def write_scores(path, score, label, fmt=b"jetcnn-scores-1", **extra):
    """A scores file as `jetcnn predict` writes it: /score, /label and 1-D pass-through datasets
    (float32 unless given as another numpy type)."""
    with h5py.File(path, "w") as f:
        if fmt is not None:
            f.attrs["format"] = np.bytes_(fmt) if isinstance(fmt, bytes) else fmt
        f["score"] = np.asarray(score, dtype=np.float32)
        f["label"] = np.asarray(label, dtype=np.int32)
        for name, values in extra.items():
            values = np.asarray(values)
            f[name] = values if values.dtype.kind in "iu" else values.astype(np.float32)


def reference_eps_b(tpr, fpr, eps_s):
    """eps_B at eps_S: linear interpolation between the last point below and the first at/above."""
    i = int(np.searchsorted(tpr, eps_s, side="left"))
    if i == 0 or tpr[i] <= eps_s:
        return fpr[i]
    t = (eps_s - tpr[i - 1]) / (tpr[i] - tpr[i - 1])
    return fpr[i - 1] + t * (fpr[i] - fpr[i - 1])


def close(a, b, what, tol=1e-6):
    """a equals reference b within tol * max(1, |b|). a may be None (JSON null), which stands
    for any non-finite reference (JSON has no infinity); inf and nan must match exactly."""
    a = np.nan if a is None else a
    if not (np.isfinite(a) and np.isfinite(b)):
        if not ((np.isnan(a) and not np.isfinite(b)) or a == b):
            fail(f"{what}: {a} vs reference {b}")
    elif abs(a - b) > tol * max(1.0, abs(b)):
        fail(f"{what}: {a!r} vs reference {b!r}")
