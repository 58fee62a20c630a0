#!/usr/bin/python3
"""Plot training curves from jetcnn metrics logs: loss, accuracy, validation AUC and background
rejection 1/eps_B at eps_S = 0.3 against epoch, training (solid) vs validation (dashed).

Each INPUT is a metrics log RUNDIR/metrics.csv written by `jetcnn train` (header
epoch,step,lr,train_loss,train_acc,val_loss,val_acc,val_auc,val_rej30,img_per_s,seconds,... ;
val_* empty without a validation set) or a run directory holding one. Several runs are
overlaid. Writes OUT (PNG) and OUT as PDF.

example:  /usr/bin/python3 analysis/plot_training.py runs/demo --out runs/demo/training.png
"""
import argparse
import csv
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jetcnn_plot as jp  # noqa: E402
import numpy as np  # noqa: E402

PROG = "plot_training.py"
COLUMNS = ["epoch", "step", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "val_auc", "val_rej30",
           "img_per_s", "seconds"]


def read_log(path):
    """{column: float array} of a metrics log; empty cells become NaN."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or header[:len(COLUMNS)] != COLUMNS:
            raise ValueError(f"{path}: header is {header}, expected {','.join(COLUMNS)}[,...]")
        # later columns (the per-rank step times, docs/formats.md) are not plotted
        rows = [r[:len(COLUMNS)] for r in reader if r]
    if not rows:
        raise ValueError(f"{path}: no epochs logged yet")
    try:
        data = np.array([[float(x) if x != "" else np.nan for x in r] for r in rows])
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    if data.shape[1] != len(COLUMNS):
        raise ValueError(f"{path}: rows with {data.shape[1]} columns, expected {len(COLUMNS)}")
    return {c: data[:, i] for i, c in enumerate(COLUMNS)}


def main():
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="+", metavar="INPUT", help="metrics.csv or a run directory containing it")
    ap.add_argument("--out", default="training.png", help="output PNG; the PDF goes next to it (default training.png)")
    ap.add_argument("--label", action="append", default=[], help="legend name of each run, in order; repeatable")
    args = ap.parse_args()

    runs = []
    for k, path in enumerate(args.inputs):
        log = os.path.join(path, "metrics.csv") if os.path.isdir(path) else path
        if not os.path.isfile(log):
            jp.die(PROG, f"{log}: no such file")
        try:
            runs.append((args.label[k] if k < len(args.label) else os.path.dirname(log) or log, read_log(log)))
        except (ValueError, OSError) as exc:
            jp.die(PROG, str(exc))

    fig, axes = jp.plt.subplots(2, 2, figsize=(11, 8), sharex=True)
    panels = [(axes[0, 0], "loss", "train_loss", "val_loss", "linear"),
              (axes[0, 1], "accuracy", "train_acc", "val_acc", "linear"),
              (axes[1, 0], "validation AUC", None, "val_auc", "linear"),
              (axes[1, 1], "validation $1/\\epsilon_B$ at $\\epsilon_S = 0.3$", None, "val_rej30", "log")]
    for i, (name, m) in enumerate(runs):
        color = f"C{i}"
        for ax, title, train, val, scale in panels:
            if train:
                ax.plot(m["epoch"], m[train], "-o", ms=3, color=color, label=f"{name} train")
            ok = np.isfinite(m[val]) & (m[val] > 0 if scale == "log" else True)
            if ok.any():
                ax.plot(m["epoch"][ok], m[val][ok], "--s", ms=3, color=color, label=f"{name} validation")
    for ax, title, train, val, scale in panels:
        ax.set_title(title)
        if scale == "log" and ax.lines:
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "no validation set", ha="center", va="center", transform=ax.transAxes)
    for ax in axes[1]:
        ax.set_xlabel("epoch")
    jp.save(fig, args.out, PROG)


if __name__ == "__main__":
    main()
