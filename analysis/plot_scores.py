#!/usr/bin/python3
"""Plot the score distributions of top and QCD jets from prediction files written by
`jetcnn predict` (/score = probability of top, /label = 1 top, 0 QCD): normalised histograms,
top solid and QCD dashed, one colour per file. Writes OUT (PNG) and OUT as PDF.

example:  /usr/bin/python3 analysis/plot_scores.py runs/demo/scores.h5 --out runs/demo/scores.png
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jetcnn_plot as jp  # noqa: E402
import numpy as np  # noqa: E402

PROG = "plot_scores.py"


def main():
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="+", metavar="SCORES.h5", help="prediction file")
    ap.add_argument("--out", default="scores.png", help="output PNG; the PDF goes next to it (default scores.png)")
    ap.add_argument("--label", action="append", default=[], help="legend name of each file, in order; repeatable")
    ap.add_argument("--bins", type=int, default=50, help="number of bins on [0, 1] (default 50)")
    ap.add_argument("--linear", action="store_true", help="linear instead of logarithmic y axis")
    args = ap.parse_args()
    if args.bins < 1:
        jp.die(PROG, "--bins must be >= 1")
    h5py = jp.require_h5py(PROG)

    fig, ax = jp.plt.subplots(figsize=(7, 5))
    edges = np.linspace(0, 1, args.bins + 1)
    for k, path in enumerate(args.inputs):
        if not os.path.isfile(path):
            jp.die(PROG, f"{path}: no such file")
        try:
            score, label, _ = jp.read_scores(h5py, path)
        except (ValueError, OSError) as exc:
            jp.die(PROG, str(exc))
        name = args.label[k] if k < len(args.label) else os.path.basename(path)
        lo, hi = score.min(), score.max()
        bins = edges if lo >= 0 and hi <= 1 else np.linspace(lo, hi, args.bins + 1)  # not a probability
        for cls, style, what in ((1, "-", "top"), (0, "--", "QCD")):
            ax.hist(score[label == cls], bins=bins, density=True, histtype="step", linestyle=style, color=f"C{k}",
                    linewidth=1.5, label=f"{name}: {what} ({np.sum(label == cls)} jets)")
    ax.set(xlabel="score (probability of top)", ylabel="jets (normalised)")
    if not args.linear:
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper center")
    jp.save(fig, args.out, PROG)


if __name__ == "__main__":
    main()
