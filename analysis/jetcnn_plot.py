"""Shared helpers of the analysis/ scripts: reading jetcnn files, the exact ROC curve, saving.

Uses only Debian's python3-numpy, python3-h5py and python3-matplotlib (Agg backend).
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def die(prog, msg):
    """Print 'prog: error: msg' and exit 1 (the scripts' error convention)."""
    sys.exit(f"{prog}: error: {msg}")


def require_h5py(prog):
    try:
        import h5py
    except ImportError:
        die(prog, "needs h5py (Debian: apt-get install python3-h5py; run with /usr/bin/python3)")
    return h5py


def read_1d(f, path, name, n=None):
    """Dataset NAME of open HDF5 file f as a 1-D numpy array, checked against length n."""
    if name not in f:
        raise ValueError(f"{path}: dataset /{name} is missing")
    x = f[name][...]
    if x.ndim != 1 or (n is not None and len(x) != n):
        raise ValueError(f"{path}: dataset /{name} has shape {x.shape}, expected ({n if n else 'N'},)")
    return x


def read_scores(h5py, path):
    """(score, label, file attributes dict of the other 1-D datasets) of a prediction file."""
    with h5py.File(path, "r") as f:
        fmt = f.attrs.get("format")
        if isinstance(fmt, bytes):
            fmt = fmt.decode()
        if fmt is not None and fmt != "jetcnn-scores-1":
            raise ValueError(f"{path}: format is '{fmt}', expected 'jetcnn-scores-1'")
        score = read_1d(f, path, "score").astype(np.float64)
        label = read_1d(f, path, "label", len(score)).astype(np.int64)
        extra = {k: f[k][...] for k in f if k not in ("score", "label") and f[k].shape == (len(score),)}
    if np.isnan(score).any():
        raise ValueError(f"{path}: dataset /score contains NaN")
    if not np.isin(label, (0, 1)).all() or label.min() == label.max():
        raise ValueError(f"{path}: dataset /label must hold both 0 (QCD) and 1 (top)")
    return score, label, extra


def read_roc_json(path):
    """The metrics of a `jetcnn roc --json` file (format jetcnn-roc-1) as a dict."""
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such file")
    try:
        with open(path) as f:
            metrics = json.load(f)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc})")
    if not isinstance(metrics, dict) or metrics.get("format") != "jetcnn-roc-1":
        raise ValueError(f"{path}: not a 'jetcnn roc --json' file (format jetcnn-roc-1)")
    return metrics


def roc_exact(score, label):
    """Exact ROC (docs/roc.md): eps_s, eps_b per distinct score from the highest, origin first,
    and the AUC with ties counted 1/2."""
    order = np.argsort(-score, kind="stable")
    s, y = score[order], label[order]
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]  # last jet of each score group
    tp = np.cumsum(y)[last].astype(np.float64)
    fp = (last + 1 - tp).astype(np.float64)
    eps_s, eps_b = np.r_[0.0, tp / tp[-1]], np.r_[0.0, fp / fp[-1]]
    auc = np.sum(np.diff(eps_b) * (eps_s[1:] + eps_s[:-1]) / 2)  # trapezoids = ties count 1/2
    return eps_s, eps_b, auc


def eps_b_at(eps_s, eps_b, target):
    """eps_b at signal efficiency target, linear between the last point below and the first at/above."""
    i = int(np.searchsorted(eps_s, target, side="left"))
    if i == 0 or eps_s[i] <= target:
        return eps_b[i]
    t = (target - eps_s[i - 1]) / (eps_s[i] - eps_s[i - 1])
    return eps_b[i - 1] + t * (eps_b[i] - eps_b[i - 1])


def save(fig, out, prog):
    """Write OUT (PNG) and the same figure as PDF next to it; print both names."""
    stem, ext = os.path.splitext(out)
    png = out if ext.lower() == ".png" else stem + ".png"
    pdf = stem + ".pdf"
    d = os.path.dirname(png)
    if d and not os.path.isdir(d):
        die(prog, f"{png}: directory {d} does not exist")
    try:
        fig.savefig(png, dpi=150, bbox_inches="tight")
        fig.savefig(pdf, bbox_inches="tight")
    except OSError as exc:
        die(prog, f"cannot write {png}: {exc}")
    plt.close(fig)
    print(f"wrote {png} and {pdf}")
