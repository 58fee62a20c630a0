#!/usr/bin/python3
"""Plot how a tagger's cut sculpts the background: for each classifier curve and working point
of a `jetcnn roc --sculpting --json` file, the jet-mass distributions of the QCD jets that pass
and that fail the cut (each normalised to unit area over the histogram range, under- and
overflow counted in the normalisation but not drawn), with 1/JSD in the title (the
Jensen-Shannon divergence in bits between the two, docs/roc.md). Rows: curves; columns: working
points. Writes OUT (PNG) and OUT as PDF.

example:
  jetcnn roc runs/demo/scores.h5 --sculpting --json runs/demo/metrics.json
  /usr/bin/python3 analysis/plot_sculpting.py runs/demo/metrics.json --out runs/demo/sculpting.png
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jetcnn_plot as jp  # noqa: E402
import numpy as np  # noqa: E402

PROG = "plot_sculpting.py"


def curves_with_cuts(path, wanted):
    """[(curve, [working points with 'sculpting'])] of a jetcnn roc JSON, in file order."""
    metrics = jp.read_roc_json(path)
    out = [(c, c["working_points"]) for c in metrics["curves"]
           if c["working_points"] and "sculpting" in c["working_points"][0] and (not wanted or c["name"] in wanted)]
    if not out:
        raise ValueError(f"{path}: no curve with sculpting (run 'jetcnn roc --sculpting')"
                         + (f" named {', '.join(wanted)}" if wanted else ""))
    return out


def load(prog, doc, default_out):
    """Options (METRICS.json, --out, --curve, --title) and the curves with sculpting; exits
    with a message on bad input. Shared with plot_efficiency.py."""
    ap = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json", metavar="METRICS.json", help="written by 'jetcnn roc --sculpting --json'")
    ap.add_argument("--out", default=default_out, help=f"output PNG; the PDF goes next to it (default {default_out})")
    ap.add_argument("--curve", action="append", default=[], help="only this curve (repeatable; default: every one)")
    ap.add_argument("--title", default="", help="figure title")
    args = ap.parse_args()
    try:
        return args, curves_with_cuts(args.json, args.curve)
    except (ValueError, OSError, KeyError, TypeError) as exc:
        jp.die(prog, str(exc))


def finish(fig, args, prog):
    """Title, layout, and OUT.png + OUT.pdf."""
    if args.title:
        fig.suptitle(args.title)
    fig.tight_layout()
    jp.save(fig, args.out, prog)


def main():
    args, curves = load(PROG, __doc__, "sculpting.png")

    n_wp = len(curves[0][1])
    fig, axes = jp.plt.subplots(len(curves), n_wp, figsize=(5 * n_wp, 3.6 * len(curves)), squeeze=False)
    for row, (curve, wps) in enumerate(curves):
        for col, wp in enumerate(wps):
            ax, sc = axes[row][col], wp["sculpting"]
            edges = np.array(sc["mass_edges"], dtype=float)
            for key, style, what in (("qcd_fail", "--", "fail"), ("qcd_pass", "-", "pass")):
                counts = np.array(sc[key], dtype=float)  # underflow, bins, overflow
                total = counts.sum()
                density = counts[1:-1] / (total * np.diff(edges)) if total > 0 else np.zeros(len(edges) - 1)
                ax.stairs(density, edges, linestyle=style, label=f"QCD jets that {what} ({int(total)})")
            inv = sc["inverse_jsd"]
            ax.set_title(f"{curve['name']}, $\\epsilon_S$ = {wp['eps_s']:g}: 1/JSD = "
                         + ("n/a" if inv is None else f"{inv:.3g}"), fontsize=9)
            ax.set(xlabel="jet mass [GeV]", ylabel="fraction / GeV")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8)
    finish(fig, args, PROG)


if __name__ == "__main__":
    main()
