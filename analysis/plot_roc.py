#!/usr/bin/python3
"""Plot ROC curves of taggers in the HEP convention: background rejection 1/eps_B (log scale)
against signal efficiency eps_S, and next to it eps_B against eps_S.

Inputs, any mix of:
  * prediction files written by `jetcnn predict` (HDF5 with /score and /label): the exact
    curve is computed here; if the first one also holds /jet_mass, /tau2 and /tau3, the
    jet-mass and tau32 = tau3/tau2 baselines are drawn too (unless --no-baselines);
  * CSV files written by `jetcnn roc --csv` (columns curve,threshold,eps_s,eps_b,rejection,auc):
    every curve in them (baselines, likelihood, other runs).
The legend gives each curve's AUC and 1/eps_B at eps_S = 0.3. With --metrics, the JSON of the
same `jetcnn roc --ensemble` run: its trainings are drawn thin, with their mean +- std of
1/eps_B as a band, and the legend quotes the mean +- std of AUC and 1/eps_B over the trainings
next to the curve of their mean score. Writes OUT (PNG) and OUT as PDF.

examples:
  /usr/bin/python3 analysis/plot_roc.py runs/demo/scores.h5 --out runs/demo/roc.png
  jetcnn roc runs/*/scores.h5 --ensemble --csv ens.csv --json ens.json
  /usr/bin/python3 analysis/plot_roc.py ens.csv --metrics ens.json --out ens.png
"""
import argparse
import csv
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jetcnn_plot as jp  # noqa: E402
import numpy as np  # noqa: E402

PROG = "plot_roc.py"


def curves_from_csv(path):
    """[(name, eps_s, eps_b, auc)] of a `jetcnn roc --csv` file, in file order."""
    curves = {}
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        need = ["curve", "eps_s", "eps_b", "auc"]
        if header is None or not all(c in header for c in need):
            raise ValueError(f"{path}: not a 'jetcnn roc --csv' file (header {header})")
        col = {c: header.index(c) for c in need}
        for row in reader:
            c = curves.setdefault(row[col["curve"]], ([], [], float(row[col["auc"]])))
            c[0].append(float(row[col["eps_s"]]))
            c[1].append(float(row[col["eps_b"]]))
    return [(name, np.array(s), np.array(b), auc) for name, (s, b, auc) in curves.items()]


def curves_from_h5(h5py, path, label, baselines):
    score, y, extra = jp.read_scores(h5py, path)
    out = [(label or os.path.basename(path), *jp.roc_exact(score, y))]
    if baselines:
        if "jet_mass" in extra:
            out.append(("jet mass", *jp.roc_exact(extra["jet_mass"].astype(np.float64), y)))
        if "tau2" in extra and "tau3" in extra:
            tau2, tau3 = extra["tau2"].astype(np.float64), extra["tau3"].astype(np.float64)
            tau32 = np.divide(tau3, tau2, out=np.ones_like(tau2), where=tau2 > 0)  # 1 when tau2 = 0
            out.append(("tau32", *jp.roc_exact(-tau32, y)))
    return out


def read_ensemble(path):
    """The "ensemble" object of a `jetcnn roc --json` file, or None when it has none."""
    return jp.read_roc_json(path).get("ensemble")


def fmt_pm(mean, std, digits):
    """'mean +- std' with None (JSON null) shown as inf / n/a."""
    m = "inf" if mean is None else f"{mean:.{digits}f}"
    return m if std is None else f"{m} $\\pm$ {std:.{digits}f}"


def main():
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="+", metavar="INPUT", help="prediction file (.h5) or jetcnn roc CSV (.csv)")
    ap.add_argument("--out", default="roc.png", help="output PNG; the PDF goes next to it (default roc.png)")
    ap.add_argument("--label", action="append", default=[],
                    help="legend name of each prediction file, in order (default: file name); repeatable")
    ap.add_argument("--no-baselines", action="store_true",
                    help="do not draw the jet-mass and tau32 baselines from the first prediction file")
    ap.add_argument("--eps-s", type=float, default=0.3, help="signal efficiency quoted in the legend (default 0.3)")
    ap.add_argument("--metrics", help="JSON of the same 'jetcnn roc --ensemble' run: draw trainings, spread and ensemble")
    ap.add_argument("--title", default="", help="figure title")
    args = ap.parse_args()

    curves = []
    n_h5 = 0
    try:
        for path in args.inputs:
            if not os.path.isfile(path):
                jp.die(PROG, f"{path}: no such file")
            if path.lower().endswith(".csv"):
                curves += [(n, s, b, a) for n, s, b, a in curves_from_csv(path)]
            else:
                h5py = jp.require_h5py(PROG)
                label = args.label[n_h5] if n_h5 < len(args.label) else None
                curves += curves_from_h5(h5py, path, label, baselines=(n_h5 == 0 and not args.no_baselines))
                n_h5 += 1
        ensemble = read_ensemble(args.metrics) if args.metrics else None
        if args.metrics and ensemble is None:
            jp.die(PROG, f"{args.metrics}: no ensemble in it (run 'jetcnn roc --ensemble')")
        members = set(ensemble["members"]) if ensemble else set()
        missing = members - {c[0] for c in curves}
        if missing:
            jp.die(PROG, f"{args.metrics}: trainings {sorted(missing)} are not among the curves of the inputs")
    except (ValueError, OSError, KeyError, TypeError) as exc:
        jp.die(PROG, str(exc))

    fig, (ax_rej, ax_roc) = jp.plt.subplots(1, 2, figsize=(12, 5))
    if ensemble:
        # the trainings: thin lines of one colour, their mean +- std of 1/eps_B as a band
        grid = np.linspace(0.05, 1.0, 96)
        rej = []
        for name, eps_s, eps_b, _ in curves:
            if name in members:
                ok = eps_b > 0
                ax_rej.plot(eps_s[ok], 1 / eps_b[ok], color="grey", lw=0.6, alpha=0.6)
                ax_roc.plot(eps_s, eps_b, color="grey", lw=0.6, alpha=0.6)
                eb = np.array([jp.eps_b_at(eps_s, eps_b, e) for e in grid])
                rej.append(np.divide(1.0, eb, out=np.full_like(eb, np.inf), where=eb > 0))
        rej = np.array(rej)
        finite = np.all(np.isfinite(rej), axis=0)
        with np.errstate(invalid="ignore"):  # columns with an infinite rejection are not drawn
            mean, std = rej.mean(axis=0), rej.std(axis=0, ddof=1)
        wp = next((w for w in ensemble["working_points"] if abs(w["eps_s"] - args.eps_s) < 1e-9), None)
        spread = (f"{ensemble['n_members']} trainings: AUC {fmt_pm(ensemble['auc_mean'], ensemble['auc_std'], 4)}"
                  + (f", 1/$\\epsilon_B$@{args.eps_s:g} = {fmt_pm(wp['rejection_mean'], wp['rejection_std'], 0)}" if wp else ""))
        ax_rej.fill_between(grid[finite], (mean - std)[finite], (mean + std)[finite], color="grey", alpha=0.3,
                            label=spread + " (band: mean $\\pm$ std)")
        ax_roc.plot([], [], color="grey", lw=0.6, label=spread)
    for name, eps_s, eps_b, auc in curves:
        if name in members:
            continue
        eb = jp.eps_b_at(eps_s, eps_b, args.eps_s)
        rej = f"{1 / eb:.0f}" if eb > 0 else "inf"
        legend = f"{name} (AUC {auc:.4f}, 1/$\\epsilon_B$@{args.eps_s:g} = {rej})"
        ok = eps_b > 0
        width = 2.0 if ensemble and name == ensemble["curve"] else 1.5
        line, = ax_rej.plot(eps_s[ok], 1 / eps_b[ok], label=legend, lw=width)
        ax_roc.plot(eps_s, eps_b, color=line.get_color(), label=legend, lw=width)
    x = np.linspace(0.001, 1, 200)
    ax_rej.plot(x, 1 / x, ":", color="grey", label="random")
    ax_roc.plot([0, 1], [0, 1], ":", color="grey", label="random")
    ax_rej.set(yscale="log", xlim=(0, 1), xlabel="signal efficiency $\\epsilon_S$ (top)",
               ylabel="background rejection $1/\\epsilon_B$ (QCD)")
    ax_roc.set(xlim=(0, 1), ylim=(0, 1), xlabel="signal efficiency $\\epsilon_S$ (top)",
               ylabel="background efficiency $\\epsilon_B$ (QCD)")
    for ax in (ax_rej, ax_roc):
        ax.grid(True, which="both", alpha=0.3)
    ax_rej.legend(fontsize=8, loc="upper right")
    if args.title:
        fig.suptitle(args.title)
    jp.save(fig, args.out, PROG)


if __name__ == "__main__":
    main()
