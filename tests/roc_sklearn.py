#!/usr/bin/python3
"""Check `jetcnn roc` against scikit-learn and numpy on HDF5 score files written here.

AUC (roc_auc_score), the full curve (roc_curve, drop_intermediate=False), 1/eps_B at fixed
eps_S, accuracy, the observable and likelihood baselines (recomputed in numpy), thinning (a
subset of the exact points), the error exits, and a 2-rank run giving the same JSON.
Exits 1 with a message on the first failure.
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from roc_common import close, fail, reference_eps_b, run, write_scores  # noqa: E402

try:
    import h5py
    import numpy as np
    from sklearn.metrics import accuracy_score, roc_auc_score, roc_curve
except ImportError as exc:  # a missing module is a failure, never a skip
    sys.exit(f"roc_sklearn: FAIL: cannot import {exc.name} (Debian: python3-h5py python3-sklearn)")

TOL = 1e-6


def read_csv(path):
    curves = {}
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        if header != ["curve", "threshold", "eps_s", "eps_b", "rejection", "auc"]:
            fail(f"{path}: unexpected header {header}")
        for row in reader:
            curves.setdefault(row[0], []).append([float(x) for x in row[1:]])
    return {k: np.array(v) for k, v in curves.items()}


def check_curve(name, entry, rows, score, label, eps_list, probability=True):
    """Compare one curve of the JSON and the (unthinned) CSV with scikit-learn."""
    fpr, tpr, thr = roc_curve(label, score, drop_intermediate=False)
    close(entry["auc"], roc_auc_score(label, score), f"{name}: AUC")
    if len(rows) != len(fpr):
        fail(f"{name}: CSV has {len(rows)} points, scikit-learn {len(fpr)}")
    # threshold[0] differs by convention (+inf here, max + 1 in scikit-learn 1.2)
    if not np.allclose(rows[1:, 0], thr[1:], rtol=TOL, atol=0):
        fail(f"{name}: thresholds differ from scikit-learn")
    for col, ref, what in ((1, tpr, "eps_s"), (2, fpr, "eps_b")):
        worst = np.max(np.abs(rows[:, col] - ref))
        if worst > TOL:
            fail(f"{name}: {what} differs from scikit-learn by {worst}")
    for wp in entry["working_points"]:
        eb = reference_eps_b(tpr, fpr, wp["eps_s"])
        close(wp["eps_b"], eb, f"{name}: eps_b at eps_s={wp['eps_s']}")
        rej = wp["rejection"] if wp["rejection"] is not None else np.inf
        close(rej, 1.0 / eb if eb > 0 else np.inf, f"{name}: rejection at eps_s={wp['eps_s']}")
    if [wp["eps_s"] for wp in entry["working_points"]] != eps_list:
        fail(f"{name}: working points {entry['working_points']}")
    if probability:
        close(entry["accuracy"], accuracy_score(label, score >= 0.5), f"{name}: accuracy")


def likelihood_reference(mass, tau32, label, grid):
    """The documented likelihood baseline (docs/roc.md), recomputed in numpy: for each fold,
    the empirical distributions of the fitting half map (mass, tau32) to (u, v); per class a
    Gaussian kernel density (Scott's bandwidth from the robust spread) on the (grid+1)^2 nodes,
    linear binning, reflected edges, one jet's floor; the other half gets ln(p_top / p_qcd)."""
    mass, tau32 = mass.astype(np.float32), tau32.astype(np.float32)
    n = len(mass)
    score = np.empty(n)

    def ecdf(x):
        xs = np.sort(x)
        d, first, counts = np.unique(xs, return_index=True, return_counts=True)
        c = (first + 0.5 * counts) / len(xs)
        return lambda y: np.interp(y.astype(np.float64), d.astype(np.float64), c)

    def cell(u):
        a = u * grid
        i = np.clip(np.floor(a).astype(int), 0, grid - 1)
        return i, np.clip(a - i, 0.0, 1.0)

    def smooth(w, axis, s):
        # a Gaussian of s nodes, truncated at 4 s and normalised over the truncation, the
        # edges reflected: node j adds to node i through |i - j|, i + j and 2 grid - i - j
        if s < 1e-3:
            return w
        r = min(int(np.ceil(4 * s)), grid)
        k = np.exp(-0.5 * np.arange(r + 1) ** 2 / s ** 2)
        k /= k[0] + 2 * k[1:].sum()
        idx = np.arange(grid + 1)
        dist = [np.abs(idx[:, None] - idx[None, :]), idx[:, None] + idx[None, :], 2 * grid - idx[:, None] - idx[None, :]]
        m = np.zeros((grid + 1, grid + 1))
        for q, dd in enumerate(dist):
            ok = dd <= r
            if q > 0:  # the edge nodes are their own mirror images
                ok &= (idx[None, :] > 0) & (idx[None, :] < grid)
            m += np.where(ok, k[np.minimum(dd, r)], 0.0)
        return np.moveaxis(np.tensordot(m, np.moveaxis(w, axis, 0), axes=(1, 0)), 0, axis)

    for fold in (0, 1):
        fit = np.arange(fold, n, 2)
        ev = np.arange(1 - fold, n, 2)
        fm, ft = ecdf(mass[fit]), ecdf(tau32[fit])
        dens = []
        for c in (0, 1):
            sel = fit[label[fit] == c]
            u, v = fm(mass[sel]), ft(tau32[sel])
            h = []
            for x in (u, v):
                sd = np.std(x, ddof=1)
                xs = np.sort(x)
                iqr = (xs[int(0.75 * (len(x) - 1))] - xs[int(0.25 * (len(x) - 1))]) / 1.349
                spread = iqr if 0 < iqr < sd else sd
                h.append(min(max(spread * len(x) ** (-1 / 6), 1 / grid), 0.25))
            w = np.zeros((grid + 1, grid + 1))
            (a, fa), (b, fb) = cell(u), cell(v)
            for da, wa in ((0, 1 - fa), (1, fa)):
                for db, wb in ((0, 1 - fb), (1, fb)):
                    np.add.at(w, (a + da, b + db), wa * wb)
            w = smooth(smooth(w, 0, h[0] * grid), 1, h[1] * grid)
            nodes = (grid + 1) ** 2
            dens.append((len(sel) * w / w.sum() + 1 / nodes) / (len(sel) + 1))
        (a, fa), (b, fb) = cell(fm(mass[ev])), cell(ft(tau32[ev]))
        p = [(1 - fa) * (1 - fb) * d[a, b] + fa * (1 - fb) * d[a + 1, b] + (1 - fa) * fb * d[a, b + 1] + fa * fb * d[a + 1, b + 1]
             for d in dens]
        score[ev] = np.log(p[1]) - np.log(p[0])
    return score.astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--jetcnn", required=True, help="the jetcnn executable")
    ap.add_argument("--mpiexec", help="mpiexec executable; also run with 2 ranks")
    ap.add_argument("--np-flag", default="-n", help="its flag for the number of ranks (default -n)")
    args = ap.parse_args()
    rng = np.random.default_rng(20261125)
    eps_list = [0.3, 0.5]
    with tempfile.TemporaryDirectory() as tmp:
        def roc(files, *opts, expect_rc=0, prefix=()):
            out_csv, out_json = os.path.join(tmp, "roc.csv"), os.path.join(tmp, "roc.json")
            for p in (out_csv, out_json):
                if os.path.exists(p):
                    os.remove(p)
            proc = run([*prefix, args.jetcnn, "roc", *files, "--csv", out_csv, "--json", out_json, *opts], expect_rc)
            if expect_rc != 0:
                return proc, None, None
            with open(out_json) as f:
                metrics = json.load(f)
            return proc, metrics, read_csv(out_csv)

        # 1. continuous random scores, with observables for the baselines
        n = 6000
        label = (rng.random(n) < 0.45).astype(np.int32)
        score = (1 / (1 + np.exp(-(rng.normal(size=n) + 1.2 * (2 * label - 1))))).astype(np.float32)
        mass = np.where(label == 1, rng.normal(172, 25, n), rng.exponential(60, n) + 20).astype(np.float32)
        tau2 = rng.random(n).astype(np.float32)
        tau3 = (tau2 * np.where(label == 1, rng.beta(3, 2, n), rng.beta(5, 2, n))).astype(np.float32)
        tau2[:7] = 0.0  # two-constituent jets: tau32 := 1
        tau3[:7] = 0.0
        random_h5 = os.path.join(tmp, "random.h5")
        write_scores(random_h5, score, label, jet_mass=mass, tau2=tau2, tau3=tau3)
        _, m, curves = roc([random_h5], "--max-points", "0", "--bootstrap", "0", "--observable", "tau32",
                           "--observable", "jet_mass", "--likelihood")
        names = [c["name"] for c in m["curves"]]
        if names != [random_h5, "tau32", "jet_mass", "likelihood(mass,tau32)"]:
            fail(f"curve names {names}")
        check_curve("random", m["curves"][0], curves[random_h5], score, label, eps_list)
        with np.errstate(invalid="ignore", divide="ignore"):
            tau32 = np.where(tau2 > 0, tau3 / tau2, 1.0).astype(np.float32)
        check_curve("tau32", m["curves"][1], curves["tau32"] * [-1, 1, 1, 1, 1], -tau32, label, eps_list, False)
        check_curve("jet_mass", m["curves"][2], curves["jet_mass"], mass, label, eps_list, False)
        like = likelihood_reference(mass, tau32, label, 100)
        entry = m["curves"][3]
        close(entry["auc"], roc_auc_score(label, like), "likelihood: AUC")  # ties: exact equality not required
        fpr, tpr, _ = roc_curve(label, like, drop_intermediate=False)
        for wp in entry["working_points"]:
            ref = reference_eps_b(tpr, fpr, wp["eps_s"])
            if abs(wp["eps_b"] - ref) > 2e-3 * max(ref, 1e-3):
                fail(f"likelihood: eps_b at {wp['eps_s']} is {wp['eps_b']}, numpy {ref}")
        if not entry["auc"] > max(m["curves"][1]["auc"], m["curves"][2]["auc"]):
            fail("the likelihood of mass and tau32 is not better than each alone")
        if not curves["likelihood(mass,tau32)"][1, 1] <= 0.05:
            fail(f"the likelihood curve starts at eps_s = {curves['likelihood(mass,tau32)'][1, 1]}")

        # 2. a window cut: one working point
        _, m, curves = roc([random_h5], "--observable", "jet_mass", "--window", "150:200", "--bootstrap", "0")
        inside = ((mass >= 150) & (mass <= 200)).astype(np.float32)
        check_curve("window", m["curves"][1], curves["jet_mass[150:200]"], inside, label, eps_list, False)

        # 3. heavily tied scores (10 levels), two files, working points of our choice
        n = 4000
        label2 = (rng.random(n) < 0.5).astype(np.int32)
        tied = np.round(np.clip(rng.normal(0.5 + 0.15 * (2 * label2 - 1), 0.25), 0, 1) * 9) / 9
        tied_h5 = os.path.join(tmp, "tied.h5")
        write_scores(tied_h5, tied, label2, fmt=None)  # the format attribute is optional
        eps3 = [0.1, 0.3, 0.5, 0.77]
        _, m, curves = roc([tied_h5, random_h5], "--max-points", "0", "--bootstrap", "0", "--eps-s", "0.1,0.3,0.5,0.77",
                           "--label", "tied")
        check_curve("tied", m["curves"][0], curves["tied"], tied.astype(np.float32), label2, eps3)
        check_curve("second file", m["curves"][1], curves[random_h5], score, label, eps3)
        if len(curves["tied"]) > 12:
            fail(f"tied curve has {len(curves['tied'])} points for 10 score levels")

        # 4. a large file: thinned points are exact points, the default bootstrap gives errors
        n = 300000
        label3 = (rng.random(n) < 0.5).astype(np.int32)
        big = (rng.normal(size=n) + 1.5 * label3).astype(np.float32)
        big_h5 = os.path.join(tmp, "big.h5")
        write_scores(big_h5, big, label3)
        _, m, curves = roc([big_h5], "--max-points", "500")
        rows = curves[big_h5]
        fpr, tpr, thr = roc_curve(label3, big, drop_intermediate=False)
        if not 100 < len(rows) <= 500:
            fail(f"thinned curve has {len(rows)} points")
        kept = rows[1:, 0].astype(np.float32)  # printed with 9 digits: float32 round-trips
        idx = np.searchsorted(-thr[1:], -kept) + 1
        if not (np.all(thr[idx] == kept) and np.allclose(tpr[idx], rows[1:, 1], atol=TOL)
                and np.allclose(fpr[idx], rows[1:, 2], atol=TOL)):
            fail("a thinned point is not a point of the exact curve")
        entry = m["curves"][0]
        close(entry["auc"], roc_auc_score(label3, big), "big: AUC")
        for wp in entry["working_points"]:
            close(wp["eps_b"], reference_eps_b(tpr, fpr, wp["eps_s"]), f"big: eps_b at {wp['eps_s']}")
            if not 0 < wp["rejection_err"] < 0.2 * wp["rejection"]:
                fail(f"big: bootstrap error {wp['rejection_err']} of rejection {wp['rejection']}")
            if not 0.5 < wp["rejection_err"] / wp["rejection_err_binomial"] < 2:
                fail(f"big: bootstrap {wp['rejection_err']} vs binomial {wp['rejection_err_binomial']}")
        if not 0 < entry["auc_err"] < 0.01:
            fail(f"big: AUC error {entry['auc_err']}")

        # 5. errors name the file and dataset, with the documented exit codes
        def bad(name, score_, label_, words, **kw):
            path = os.path.join(tmp, name + ".h5")
            write_scores(path, score_, label_, **kw)
            proc, _, _ = roc([path], expect_rc=3)
            for w in (path, *words):
                if w not in proc.stderr:
                    fail(f"{name}: error message lacks '{w}': {proc.stderr}")
        s4, l4 = np.array([0.1, 0.9, 0.4, 0.3]), np.array([0, 1, 1, 0])
        bad("nan", [0.1, np.nan, 0.3, 0.4], l4, ["/score", "NaN"])
        bad("label2", s4, [0, 1, 2, 0], ["/label", "label of jet 2 is 2"])
        bad("oneclass", s4, [1, 1, 1, 1], ["only one class"])
        bad("format", s4, l4, ["jetcnn-1"], fmt=b"jetcnn-1")
        path = os.path.join(tmp, "nolabel.h5")
        with h5py.File(path, "w") as f:
            f["score"] = s4.astype(np.float32)
        proc, _, _ = roc([path], expect_rc=3)
        if "/label" not in proc.stderr or path not in proc.stderr:
            fail(f"missing /label: {proc.stderr}")
        proc, _, _ = roc([random_h5, "--observable", "tau21"], expect_rc=3)
        if "/tau1" not in proc.stderr:
            fail(f"missing /tau1: {proc.stderr}")
        run([args.jetcnn, "roc", random_h5, "--window", "1:2"], 2)
        run([args.jetcnn, "roc", random_h5, "--observable", "jet_mass", "--window", "2:1"], 2)
        run([args.jetcnn, "roc", random_h5, "--eps-s", "0.3,1.5"], 2)
        run([args.jetcnn, "roc", random_h5, "--csv", os.path.join(tmp, "no", "dir.csv")], 4)
        # 6. an output that is also an input (or the other output) is refused; the input survives
        with open(random_h5, "rb") as f:
            original = f.read()
        os.link(random_h5, os.path.join(tmp, "hard.h5"))
        os.symlink(random_h5, os.path.join(tmp, "soft.csv"))
        for opt, out, words in (("--csv", random_h5, "same file as the input"),
                                ("--json", os.path.join(tmp, "hard.h5"), "same file as the input"),
                                ("--csv", os.path.join(tmp, "soft.csv"), "same file as the input"),
                                ("--json", os.path.join(tmp, "sub", "..", "random.h5"), "same file as the input")):
            os.makedirs(os.path.join(tmp, "sub"), exist_ok=True)
            proc = run([args.jetcnn, "roc", random_h5, opt, out], 2)
            if words not in proc.stderr or out not in proc.stderr:
                fail(f"roc {opt} {out}: {proc.stderr}")
        proc = run([args.jetcnn, "roc", random_h5, "--csv", os.path.join(tmp, "o.txt"), "--json",
                    os.path.join(tmp, ".", "o.txt")], 2)
        if "are the same file" not in proc.stderr:
            fail(f"--csv and --json the same file: {proc.stderr}")
        with open(random_h5, "rb") as f:
            if f.read() != original:
                fail("an input was changed by a refused run")
        if "--likelihood" not in run([args.jetcnn, "roc", "--help"]).stdout:
            fail("--help does not describe --likelihood")

        # 7. under mpiexec with 2 ranks: rank 0 works, the result is the same
        if args.mpiexec:
            _, m1, _ = roc([random_h5, "--likelihood"])
            _, m2, _ = roc([random_h5, "--likelihood"], prefix=[args.mpiexec, args.np_flag, "2"])
            if m1 != m2:
                fail("2 ranks give other metrics than 1")
            proc, _, _ = roc([os.path.join(tmp, "nan.h5")], expect_rc=3, prefix=[args.mpiexec, args.np_flag, "2"])
            if proc.stderr.count("jetcnn: error:") != 1:
                fail(f"2 ranks: the error is not printed exactly once: {proc.stderr}")
        # 8. a format attribute written by h5py (variable-length UTF-8 string) is read; this
        # needs h5io_read_attr_str to read with the attribute's character set
        utf8 = os.path.join(tmp, "utf8.h5")
        write_scores(utf8, s4, l4, fmt="jetcnn-scores-1")
        proc = subprocess.run([args.jetcnn, "roc", utf8], capture_output=True, text=True)
        if proc.returncode != 0:
            fail(f"h5py-written format attribute not readable (h5io_read_attr_str): {proc.stderr}")
    print("roc_sklearn: all checks passed")


if __name__ == "__main__":
    main()
