#!/usr/bin/python3
"""Plot a tagger's efficiencies at fixed working points in bins of jet pT and jet mass, from a
`jetcnn roc --sculpting --json` file: the signal efficiency eps_S and the background rejection
1/eps_B per bin, for the one threshold of each working point fixed on the whole sample, with
binomial error bars; where no QCD jet of a bin passes, a triangle marks the 68 % CL lower
limit on the rejection (docs/roc.md). Rows: jet pT, jet mass; columns: eps_S, 1/eps_B; one
colour per curve, one marker per working point. Writes OUT (PNG) and OUT as PDF.

example:
  jetcnn roc runs/demo/scores.h5 --sculpting --json runs/demo/metrics.json
  /usr/bin/python3 analysis/plot_efficiency.py runs/demo/metrics.json --out runs/demo/efficiency.png
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jetcnn_plot as jp  # noqa: E402
import numpy as np  # noqa: E402
from plot_sculpting import finish, load  # noqa: E402

PROG = "plot_efficiency.py"
MARKERS = "osD^vP*X"


def column(bins, key):
    return np.array([np.nan if b[key] is None else b[key] for b in bins], dtype=float)


def main():
    args, curves = load(PROG, __doc__, "efficiency.png")

    fig, axes = jp.plt.subplots(2, 2, figsize=(12, 8))
    colours = jp.plt.rcParams["axes.prop_cycle"].by_key()["color"]
    limit_label = "no QCD jet passes: 68 % CL lower limit"
    for row, (var, label) in enumerate((("jet_pt", "jet $p_T$ [GeV]"), ("jet_mass", "jet mass [GeV]"))):
        ax_s, ax_r = axes[row]
        for k, (curve, wps) in enumerate(curves):
            colour = colours[k % len(colours)]
            for w, wp in enumerate(wps):
                bins = wp["binned"][var]
                lo, hi = column(bins, "lo"), column(bins, "hi")
                x, half = (lo + hi) / 2, (hi - lo) / 2
                # small offsets keep the points of several curves and working points apart
                x = x + (k * len(wps) + w - (len(curves) * len(wps) - 1) / 2) * 0.04 * half
                name = f"{curve['name']}, $\\epsilon_S$ = {wp['eps_s']:g}"
                marker = MARKERS[w % len(MARKERS)]
                ax_s.errorbar(x, column(bins, "eps_s"), xerr=half, yerr=column(bins, "eps_s_err"), fmt=marker,
                              color=colour, ms=4, capsize=2, label=name)
                rej, err = column(bins, "rejection"), column(bins, "rejection_err")
                ok = np.isfinite(rej)
                ax_r.errorbar(x[ok], rej[ok], xerr=half[ok], yerr=err[ok], fmt=marker, color=colour, ms=4, capsize=2,
                              label=name)
                lower = column(bins, "rejection_lower68")
                limit = np.isfinite(lower)
                if limit.any():
                    ax_r.scatter(x[limit], lower[limit], marker="^", facecolors="none", edgecolors=colour, s=40,
                                 label=limit_label)
                    limit_label = None  # one legend entry
        ax_s.set(xlabel=label, ylabel="signal efficiency $\\epsilon_S$", ylim=(0, 1.05))
        ax_r.set(xlabel=label, ylabel="background rejection $1/\\epsilon_B$", yscale="log")
        for ax in (ax_s, ax_r):
            ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=7)
    for ax in axes[:, 1]:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    finish(fig, args, PROG)


if __name__ == "__main__":
    main()
