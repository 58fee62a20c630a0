#!/usr/bin/python3
"""Check `jetcnn roc --ensemble` (several trainings scoring the same jets) against numpy and
scikit-learn, its refusals, and the same on scores files written by `jetcnn predict`.

1. Three h5py-written trainings of the same jets: each member's AUC and 1/eps_B, their mean
   and sample standard deviation (n - 1), and the exact curve of the mean score, in the JSON,
   the CSV and the table. A fourth, perfect training makes a rejection infinite: its mean is
   then null, not a number.
2. Files that do not hold the same jets are refused (exit 3) naming the file and the first
   differing jet: a label, a float and an integer pass-through value, a missing dataset, another
   number of jets; --ensemble with one file is a usage error (exit 2).
3. Two trainings of a tiny net with different seeds, each scored by `jetcnn predict`: accepted
   as an ensemble; the scores of other jets are refused.
4. analysis/plot_roc.py draws the ensemble from the CSV and the JSON.
Exits 1 with a message on the first failure.
"""
import csv
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import roc_common  # noqa: E402
from roc_common import fail, reference_eps_b, run  # noqa: E402

try:
    import h5py
    import numpy as np
    from sklearn.metrics import roc_auc_score, roc_curve
except ImportError as exc:  # a missing module is a failure, never a skip
    sys.exit(f"roc_ensemble: FAIL: cannot import {exc.name} (Debian: python3-h5py python3-sklearn)")


def close(a, b, what, tol=1e-9):
    roc_common.close(a, b, what, tol)


def rejection(label, score, eps_s):
    """1/eps_B at eps_S (linear interpolation on the exact curve, docs/roc.md), from sklearn."""
    fpr, tpr, _ = roc_curve(label, score, drop_intermediate=False)
    eb = reference_eps_b(tpr, fpr, eps_s)
    return 1 / eb if eb > 0 else np.inf


def write_scores(path, score, jets, **changes):
    """The jets (label and pass-through datasets) with one training's scores; changes replace
    datasets, drop=(names,) leaves some out."""
    data = {k: changes.get(k, v) for k, v in jets.items() if k not in changes.get("drop", ())}
    roc_common.write_scores(path, score, data.pop("label"), **data)


def read_csv(path):
    curves = {}
    with open(path, newline="") as f:
        reader = csv.reader(f)
        next(reader)
        for row in reader:
            curves.setdefault(row[0], []).append([float(x) for x in row[1:]])
    return {k: np.array(v) for k, v in curves.items()}


def main():
    args = roc_common.parse_args(__doc__)
    rng = np.random.default_rng(15)
    with tempfile.TemporaryDirectory() as tmp:
        p = lambda name: os.path.join(tmp, name)  # noqa: E731
        n = 5000
        label = (rng.random(n) < 0.5).astype(np.int32)
        jets = {"label": label,
                "jet_mass": np.where(label == 1, rng.normal(172, 25, n), rng.exponential(60, n) + 20).astype(np.float32),
                "jet_pt": rng.uniform(550, 650, n).astype(np.float32),
                "n_constituents": rng.integers(5, 120, n).astype(np.int64)}
        truth = label + rng.normal(0, 0.7, n)
        scores = [(1 / (1 + np.exp(-(2 * truth - 1 + rng.normal(0, 0.4 + 0.2 * k, n))))).astype(np.float32)
                  for k in range(3)]
        files = [p(f"train{k}.h5") for k in range(3)]
        for path, s in zip(files, scores):
            write_scores(path, s, jets)

        # 1. the numbers
        eps = [0.3, 0.5]
        proc = run([args.jetcnn, "roc", *files, "--ensemble", "--bootstrap", "0", "--max-points", "0",
                    "--label", "a", "--label", "b", "--label", "c", "--json", p("e.json"), "--csv", p("e.csv")])
        with open(p("e.json")) as f:
            m = json.load(f)
        curves = read_csv(p("e.csv"))
        names = [c["name"] for c in m["curves"]]
        if names != ["a", "b", "c", "ensemble (mean of 3)"] or m["curves"][3]["kind"] != "ensemble":
            fail(f"curves {names}")
        e = m["ensemble"]
        if e["members"] != ["a", "b", "c"] or e["n_members"] != 3 or e["curve"] != "ensemble (mean of 3)":
            fail(f"ensemble header {e}")
        aucs = [roc_auc_score(label, s) for s in scores]
        for k in range(3):
            close(m["curves"][k]["auc"], aucs[k], f"member {k}: AUC")
        close(e["auc_mean"], np.mean(aucs), "mean AUC")
        close(e["auc_std"], np.std(aucs, ddof=1), "std of AUC", 1e-5)  # printed with 6 digits
        for w, wp in zip(eps, e["working_points"]):
            rej = [rejection(label, s, w) for s in scores]
            close(wp["eps_s"], w, "working point")
            close(wp["rejection_mean"], np.mean(rej), f"mean 1/eps_B at {w}")
            close(wp["rejection_std"], np.std(rej, ddof=1), f"std of 1/eps_B at {w}", 1e-5)
        # the ensemble curve is that of the mean score (summed in file order, in double)
        mean_score = ((scores[0].astype(np.float64) + scores[1] + scores[2]) / 3).astype(np.float32)
        close(m["curves"][3]["auc"], roc_auc_score(label, mean_score), "ensemble AUC")
        fpr, tpr, _ = roc_curve(label, mean_score, drop_intermediate=False)
        rows = curves["ensemble (mean of 3)"]
        if len(rows) != len(fpr) or np.max(np.abs(rows[:, 1] - tpr)) > 1e-12 or np.max(np.abs(rows[:, 2] - fpr)) > 1e-12:
            fail("the ensemble curve is not the curve of the mean score")
        for w, wp in zip(eps, m["curves"][3]["working_points"]):
            close(wp["rejection"], rejection(label, mean_score, w), f"ensemble 1/eps_B at {w}")
        row = [line for line in proc.stdout.splitlines() if line.startswith("mean +- std of 3 trainings")]
        if len(row) != 1 or f"{np.mean(aucs):.4f} +- " not in row[0]:
            fail(f"table lacks the mean row: {proc.stdout}")
        # a perfect training: infinite rejection, so the mean is null (JSON has no infinity)
        perfect = p("perfect.h5")
        write_scores(perfect, label * 0.8 + 0.1, jets)
        run([args.jetcnn, "roc", *files, perfect, "--ensemble", "--bootstrap", "0", "--json", p("p.json")])
        with open(p("p.json")) as f:
            wp = json.load(f)["ensemble"]["working_points"][0]
        if wp["rejection_mean"] is not None or wp["rejection_std"] is not None:
            fail(f"a member with infinite rejection: mean {wp}")

        # 2. refusals, naming the file and the first differing jet
        flipped = label.copy()
        flipped[[123, 4000]] ^= 1
        mass = jets["jet_mass"].copy()
        mass[[77, 3000]] += 1.0
        count = jets["n_constituents"].copy()
        count[4321] += 1
        cases = [("label.h5", {"label": flipped}, "jet 123: /label is"),
                 ("mass.h5", {"jet_mass": mass}, f"jet 77: /jet_mass is {mass[77]:.9g} here, {jets['jet_mass'][77]:.9g} there"),
                 ("count.h5", {"n_constituents": count}, f"jet 4321: /n_constituents is {count[4321]} here"),
                 ("nopt.h5", {"drop": ("jet_pt",)}, "dataset /jet_pt is only in"),
                 ]
        for name, change, words in cases:
            write_scores(p(name), scores[1], jets, **change)
            proc = run([args.jetcnn, "roc", files[0], p(name), "--ensemble"], 3)
            if f"{p(name)}: not the same jets as {files[0]}" not in proc.stderr or words not in proc.stderr:
                fail(f"{name}: {proc.stderr}")
        short = p("short.h5")
        write_scores(short, scores[1][:-1], {k: v[:-1] for k, v in jets.items()})
        proc = run([args.jetcnn, "roc", files[0], short, "--ensemble"], 3)
        if "4999 jets here, 5000 there" not in proc.stderr:
            fail(f"another number of jets: {proc.stderr}")
        run([args.jetcnn, "roc", files[0], short])  # without --ensemble, other jets are fine
        proc = run([args.jetcnn, "roc", files[0], "--ensemble"], 2)
        if "at least 2" not in proc.stderr:
            fail(f"one file: {proc.stderr}")
        os.link(files[1], p("again.h5"))
        proc = run([args.jetcnn, "roc", files[0], files[1], p("again.h5"), "--ensemble"], 2)
        if "are the same file" not in proc.stderr:
            fail(f"one training twice: {proc.stderr}")

        # 3. trainings scored by jetcnn predict
        cfg = p("tiny.cfg")
        with open(cfg, "w") as f:
            f.write("[net]\ninput = 40x40x1\nbatch = 64\nepochs = 1\noptimizer = adam\nlearning_rate = 0.003\n"
                    "seed = 1\n\n[maxpool]\nsize = 4\n\n[conv]\nfilters = 4\nsize = 3\nactivation = relu\n\n"
                    "[flatten]\n\n[dense]\nunits = 2\n")
        run([args.jetcnn, "generate", "--jets", "600", "--seed", "3", "--out", p("train_jets.h5")])
        run([args.jetcnn, "generate", "--jets", "300", "--seed", "4", "--out", p("test_jets.h5")])
        run([args.jetcnn, "generate", "--jets", "300", "--seed", "5", "--out", p("other_jets.h5")])
        predicted = []
        for seed in (1, 2):
            run([args.jetcnn, "train", cfg, "--train", p("train_jets.h5"), "--out", p(f"run{seed}"), "--set", f"seed={seed}"])
            predicted.append(p(f"scores{seed}.h5"))
            run([args.jetcnn, "predict", os.path.join(p(f"run{seed}"), "checkpoint.h5"), "--data", p("test_jets.h5"),
                 "--out", predicted[-1]])
        run([args.jetcnn, "predict", os.path.join(p("run1"), "checkpoint.h5"), "--data", p("other_jets.h5"),
             "--out", p("other_scores.h5")])
        with h5py.File(predicted[0]) as f0, h5py.File(predicted[1]) as f1:
            if np.array_equal(f0["score"][...], f1["score"][...]):
                fail("two seeds gave the same scores: the ensemble test would prove nothing")
            if "jet_pt" not in f0 or "n_constituents" not in f0:
                fail(f"predict passed through only {list(f0)}")
        run([args.jetcnn, "roc", *predicted, "--ensemble", "--bootstrap", "0"])
        proc = run([args.jetcnn, "roc", *predicted, p("other_scores.h5"), "--ensemble"], 3)
        if f"{p('other_scores.h5')}: not the same jets as {predicted[0]}: jet " not in proc.stderr:
            fail(f"scores of other jets: {proc.stderr}")

        # 4. the plot
        out = p("ens.png")
        run([sys.executable, os.path.join(args.analysis, "plot_roc.py"), p("e.csv"), "--metrics", p("e.json"), "--out", out])
        if not os.path.getsize(out) > 1000 or not os.path.getsize(p("ens.pdf")) > 1000:
            fail("plot_roc.py --metrics wrote no plot")
        proc = run([sys.executable, os.path.join(args.analysis, "plot_roc.py"), p("e.csv"), "--metrics", p("p.json"),
                    "--out", p("x.png")], 1)
        if "not among the curves" not in proc.stderr:
            fail(f"plot_roc.py with the JSON of another run: {proc.stderr}")
    print("roc_ensemble: all checks passed")


if __name__ == "__main__":
    main()
