#!/usr/bin/python3
"""Check `jetcnn roc --sculpting` against an independent computation in numpy/scikit-learn.

For each classifier curve (two files, and an ensemble of them) and working point: the cut
(threshold from scikit-learn's exact curve: the first point with eps_S >= the working point),
the QCD jet-mass histograms of the jets passing and failing it, their Jensen-Shannon divergence
(base 2, computed here), and the efficiencies in bins of jet pT and jet mass with binomial
errors and, where no QCD jet passes, the 68 % upper limit found here by bisection on
(1 - p)^n = 0.32; in the JSON, the CSV (--binned-csv) and the table. Then the refusals, and
analysis/plot_sculpting.py and plot_efficiency.py. Exits 1 with a message on the first failure.
"""
import csv
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import roc_common  # noqa: E402
from roc_common import close, fail, run, write_scores  # noqa: E402

try:
    import numpy as np
    from sklearn.metrics import roc_curve
except ImportError as exc:  # a missing module is a failure, never a skip
    sys.exit(f"roc_sculpting: FAIL: cannot import {exc.name} (Debian: python3-sklearn)")


def threshold_at(label, score, eps):
    """The cut of working point eps: threshold and (eps_s, eps_b) of the first exact point
    with eps_s >= eps."""
    fpr, tpr, thr = roc_curve(label, score, drop_intermediate=False)
    i = int(np.argmax(tpr >= eps))
    return thr[i], tpr[i], fpr[i]


def jsd_bits(p, q):
    """Jensen-Shannon divergence in bits of two count vectors (independent of src/sculpt.c)."""
    p, q = np.asarray(p, float) / np.sum(p), np.asarray(q, float) / np.sum(q)
    m = (p + q) / 2
    kl = lambda a: np.sum(a[a > 0] * np.log2(a[a > 0] / m[a > 0]))  # noqa: E731
    return 0.5 * kl(p) + 0.5 * kl(q)


def upper68(n):
    """p with (1 - p)^n = 0.32, by bisection."""
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if (1 - mid) ** n > 0.32 else (lo, mid)
    return (lo + hi) / 2


def reference_bins(label, passed, x, edges):
    """Per bin [edges[k], edges[k+1]): the counts and every derived number of docs/roc.md."""
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (x >= lo) & (x < hi)
        ns, ks = np.sum(inside & (label == 1)), np.sum(inside & (label == 1) & passed)
        nb, kb = np.sum(inside & (label == 0)), np.sum(inside & (label == 0) & passed)
        es = ks / ns if ns else np.nan
        eb = kb / nb if nb else np.nan
        b = {"lo": lo, "hi": hi, "n_signal": ns, "n_signal_pass": ks, "n_background": nb, "n_background_pass": kb,
             "eps_s": es, "eps_s_err": np.sqrt(es * (1 - es) / ns) if ns else np.nan,
             "eps_b": eb, "eps_b_err": np.sqrt(eb * (1 - eb) / nb) if nb else np.nan,
             "eps_b_upper68": upper68(nb) if nb and kb == 0 else np.nan,
             "rejection": (1 / eb if kb else np.inf) if nb else np.nan}
        b["rejection_err"] = np.sqrt(eb * (1 - eb) / nb) / eb ** 2 if nb and kb else np.nan
        b["rejection_lower68"] = 1 / b["eps_b_upper68"] if nb and kb == 0 else np.nan
        out.append(b)
    return out


def check_bins(what, got, ref):
    if len(got) != len(ref):
        fail(f"{what}: {len(got)} bins, expected {len(ref)}")
    for k, (g, r) in enumerate(zip(got, ref)):
        for key, value in r.items():
            if key.startswith("n_"):
                if int(g[key]) != value:
                    fail(f"{what} bin {k}: {key} = {g[key]}, numpy {value}")
            else:
                close(g[key], value, f"{what} bin {k}: {key}", 1e-9)


def main():
    args = roc_common.parse_args(__doc__)
    rng = np.random.default_rng(4)
    with tempfile.TemporaryDirectory() as tmp:
        p = lambda name: os.path.join(tmp, name)  # noqa: E731
        n = 8000
        label = (rng.random(n) < 0.5).astype(np.int32)
        mass = np.where(label == 1, rng.normal(172, 25, n), rng.exponential(60, n) + 20).astype(np.float32)
        pt = rng.uniform(550, 650, n).astype(np.float32)
        pt[:3] = [550.0, 650.0, 549.99]  # on and outside the bin edges
        # a tagger that sculpts (it likes heavy jets) and one that does not; the first with ties
        z = rng.normal(0, 1, n) + 1.6 * label
        scores = [np.round(1 / (1 + np.exp(-(z + 0.02 * (mass - 100)))), 3).astype(np.float32),
                  (1 / (1 + np.exp(-z))).astype(np.float32)]
        files = [p("sculpts.h5"), p("flat.h5")]
        for path, s in zip(files, scores):
            write_scores(path, s, label, jet_mass=mass, jet_pt=pt)
        jsd_edges = np.linspace(0, 300, 31)
        mass_edges = np.array([0, 60, 120, 180, 240, 400.0])
        pt_edges = np.linspace(550, 650, 5)
        eps = [0.3, 0.5]
        proc = run([args.jetcnn, "roc", *files, "--ensemble", "--sculpting", "--bootstrap", "0",
                    "--jsd-bins", "0:300:30", "--mass-bins", "0,60,120,180,240,400", "--pt-bins", "550:650:4",
                    "--json", p("m.json"), "--binned-csv", p("b.csv")])
        with open(p("m.json")) as f:
            m = json.load(f)
        with open(p("b.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
        ens = ((scores[0].astype(np.float64) + scores[1]) / 2).astype(np.float32)
        inv_jsd = {}
        for c, score in zip(m["curves"], [*scores, ens]):
            name = c["name"]
            if c["kind"] not in ("classifier", "ensemble"):
                fail(f"unexpected curve {name}")
            for wp, e in zip(c["working_points"], eps):
                t, es, eb = threshold_at(label, score, e)
                if np.float32(wp["threshold"]) != np.float32(t):  # printed with 9 digits: float32 round-trips
                    fail(f"{name} @ {e}: threshold {wp['threshold']}, scikit-learn {t}")
                close(wp["cut"]["eps_s"], es, f"{name} @ {e}: eps_s of the cut", 1e-12)
                close(wp["cut"]["eps_b"], eb, f"{name} @ {e}: eps_b of the cut", 1e-12)
                passed = score >= t
                qcd = label == 0
                slot = np.searchsorted(jsd_edges, mass, side="right")  # 0 underflow .. 31 overflow
                hp = np.bincount(slot[qcd & passed], minlength=32)
                hf = np.bincount(slot[qcd & ~passed], minlength=32)
                sc = wp["sculpting"]
                if sc["qcd_pass"] != hp.tolist() or sc["qcd_fail"] != hf.tolist():
                    fail(f"{name} @ {e}: QCD mass histograms differ from numpy")
                if not np.allclose(sc["mass_edges"], jsd_edges, rtol=0, atol=1e-9):
                    fail(f"{name}: mass edges {sc['mass_edges']}")
                close(sc["jsd"], jsd_bits(hp, hf), f"{name} @ {e}: JSD", 1e-12)
                close(sc["inverse_jsd"], 1 / jsd_bits(hp, hf), f"{name} @ {e}: 1/JSD", 1e-12)
                inv_jsd[(name, e)] = 1 / jsd_bits(hp, hf)
                for var, x, edges in (("jet_pt", pt, pt_edges), ("jet_mass", mass, mass_edges)):
                    ref = reference_bins(label, passed, x, edges)
                    check_bins(f"{name} @ {e} {var} (JSON)", wp["binned"][var], ref)
                    csv_bins = [{k: float(v) for k, v in r.items() if k not in ("curve", "variable")}
                                for r in rows if r["curve"] == name and float(r["eps_s_wp"]) == e and r["variable"] == var]
                    check_bins(f"{name} @ {e} {var} (CSV)", csv_bins, ref)
                    if any(np.float32(r["threshold"]) != np.float32(t) for r in csv_bins):
                        fail(f"{name} @ {e}: CSV threshold differs from {t}")
        # the sculpting tagger sculpts more than the flat one, and there are upper limits to check
        for e in eps:
            if not inv_jsd[(files[0], e)] < 0.5 * inv_jsd[(files[1], e)]:
                fail(f"1/JSD at {e}: sculpting tagger {inv_jsd[(files[0], e)]}, flat {inv_jsd[(files[1], e)]}")
        if not any(r["eps_b_upper68"] != "nan" for r in rows):
            fail("no bin without passing QCD jets: the upper limits went untested")
        if len(rows) != 3 * 2 * (4 + 5):
            fail(f"the CSV has {len(rows)} rows, expected 3 curves x 2 working points x 9 bins")
        table = proc.stdout[proc.stdout.index("QCD jet-mass sculpting"):]
        line = [s for s in table.splitlines() if s.startswith(files[1])]
        if not line or f"{inv_jsd[(files[1], 0.3)]:.4g}" not in line[0]:
            fail(f"the table lacks 1/JSD of {files[1]}:\n{table}")

        # refusals
        write_scores(p("nopt.h5"), scores[1], label, jet_mass=mass)
        proc = run([args.jetcnn, "roc", p("nopt.h5"), "--sculpting"], 3)
        if "/jet_pt" not in proc.stderr or p("nopt.h5") not in proc.stderr:
            fail(f"no jet_pt: {proc.stderr}")
        for opts, words in ((["--jsd-bins", "0:300:30"], "--jsd-bins needs --sculpting"),
                            (["--sculpting", "--mass-bins", "0,60,60"], "edges must increase"),
                            (["--sculpting", "--pt-bins", "650:550:4"], "LO must be below HI"),
                            (["--sculpting", "--pt-bins", "5"], "at least 2 edges"),
                            (["--binned-csv", p("x.csv")], "--binned-csv needs --sculpting"),
                            (["--sculpting", "--binned-csv", files[1]], "same file as the input"),
                            (["--sculpting", "--binned-csv", p("y.csv"), "--json", p("y.csv")], "are the same file")):
            proc = run([args.jetcnn, "roc", files[1], *opts], 2)
            if words not in proc.stderr:
                fail(f"{opts}: {proc.stderr}")

        # the plots
        for script in ("plot_sculpting.py", "plot_efficiency.py"):
            path = os.path.join(args.analysis, script)
            if "--out" not in run([sys.executable, path, "--help"]).stdout:
                fail(f"{script} --help does not describe --out")
            out = p(script.replace(".py", ".png"))
            run([sys.executable, path, p("m.json"), "--out", out])
            for f, magic in ((out, b"\x89PNG"), (out[:-4] + ".pdf", b"%PDF")):
                with open(f, "rb") as fh:
                    if os.path.getsize(f) < 1000 or fh.read(4) != magic:
                        fail(f"{f}: not a {magic!r} file")
            run([args.jetcnn, "roc", files[1], "--json", p("plain.json")])
            proc = run([sys.executable, path, p("plain.json"), "--out", p("bad.png")], 1)
            if "no curve with sculpting" not in proc.stderr or os.path.exists(p("bad.png")):
                fail(f"{script} on a JSON without sculpting: {proc.stderr}")
    print("roc_sculpting: all checks passed")


if __name__ == "__main__":
    main()
