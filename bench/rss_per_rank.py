#!/usr/bin/python3
"""Peak resident memory (RSS) per rank of `jetcnn train`, for several file sizes and rank
counts: shows whether memory per rank stays flat as the training file grows (issue 12).

For every P in --ranks and N in --sizes it trains --config for one epoch on a file of N jets
written by `jetcnn generate` (kept in --workdir and reused), each rank run through this
script's --wrap mode, which reports the peak RSS of its jetcnn process (ru_maxrss of the
child, what /usr/bin/time -v reports). It prints the largest RSS over the ranks of each run,
the growth from the smallest to the largest file, and a budget:

    weights + optimizer + activations + shuffle window (the chunk cache) + 60 MB

from `jetcnn summary` (parameters, activation memory per sample, micro-batch) and the
config's shuffle_window. Flat means, for every P: growth <= --tolerance-mb (10) and every
run within the budget. --check makes the script exit 1 when that fails (CTest's small
version: tests/memory.cmake).

usage: rss_per_rank.py --jetcnn BUILD/jetcnn --workdir DIR [--sizes 30000 100000 300000]
                       [--ranks 1 2 3] [--config configs/deeptop.cfg] [--set KEY=VALUE ...]
                       [--threads 1] [--mpiexec mpiexec] [--check]
"""
import argparse
import os
import re
import resource
import subprocess
import sys

MARK = "rss_per_rank_kb"


def wrap(argv):
    """Run argv as a child, then print its peak RSS on stderr; exit with its status."""
    rc = subprocess.call(argv)
    kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"{MARK} {kb}", file=sys.stderr, flush=True)
    sys.exit(rc if rc >= 0 else 128 - rc)


if len(sys.argv) > 1 and sys.argv[1] == "--wrap":
    wrap(sys.argv[2:])

here = os.path.dirname(os.path.abspath(__file__))
src = os.path.dirname(here)
ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--jetcnn", required=True)
ap.add_argument("--workdir", required=True)
ap.add_argument("--config", default=os.path.join(src, "configs", "deeptop.cfg"))
ap.add_argument("--sizes", type=int, nargs="+", default=[30000, 100000, 300000])
ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 3])
ap.add_argument("--set", action="append", default=[], help="extra --set KEY=VALUE for train")
ap.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS per rank")
ap.add_argument("--mpiexec", default="mpiexec")
ap.add_argument("--tolerance-mb", type=float, default=10.0)
ap.add_argument("--check", action="store_true", help="exit 1 unless flat and within the budget")
a = ap.parse_args()
os.makedirs(a.workdir, exist_ok=True)
env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), JETCNN_PROGRESS="none")
sets = ["epochs=1"] + a.set
MB = 1e6


def run(cmd, what):
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit(f"rss_per_rank.py: {what} failed (exit {p.returncode}): {' '.join(cmd)}\n{p.stdout}{p.stderr}")
    return p


def budget_bytes():
    """weights + optimizer + activations + shuffle window + 60 MB, for one rank."""
    cmd = [a.jetcnn, "summary", a.config]
    out = run(cmd, "jetcnn summary").stdout
    params = int(re.search(r"Total params: ([\d,]+)", out).group(1).replace(",", ""))
    m = re.search(r"Activation memory per sample: ([\d.]+) (k?B|MB)", out)
    act = float(m.group(1)) * {"B": 1, "kB": 1e3, "MB": 1e6}[m.group(2)]
    micro = int(re.search(r"micro-batch (\d+)", out).group(1))
    batch = int(re.search(r"batch (\d+)", out).group(1))
    window = 8192
    for s in sets:  # the config's own shuffle_window is not in the summary; --set overrides
        k, _, v = s.partition("=")
        if k.strip() == "shuffle_window":
            window = int(v)
        if k.strip() == "micro_batch":
            micro = int(v)
        if k.strip() == "batch":
            batch = int(v)
    with open(a.config) as f:
        for line in f:
            mm = re.match(r"\s*shuffle_window\s*=\s*(\d+)", line)
            if mm and not any(s.startswith("shuffle_window") for s in sets):
                window = int(mm.group(1))
    image = 40 * 40 * 4  # generate's default 40x40x1 float32 images
    chunk_rows = 256  # JETFILE_CHUNK_ROWS
    window_chunks = max(1, window // chunk_rows)
    # weights, their global sum and one gradient row per local micro-batch; Adam's two moments
    rows = -(-batch // micro)
    weights = params * 4 * (2 + rows)
    optimizer = params * 4 * 2
    # per-thread workspace (activations and their gradients) and the step's input, twice (prefetch)
    activations = a.threads * micro * act * 2 + 2 * batch * image
    window_bytes = (window_chunks + 1) * chunk_rows * image
    return weights + optimizer + activations + window_bytes + 60 * MB, (weights, optimizer, activations, window_bytes)


def data_file(n):
    path = os.path.join(a.workdir, f"jets{n}.h5")
    if not os.path.exists(path):
        run([a.mpiexec, "-n", "1", a.jetcnn, "generate", "--jets", str(n), "--out", path, "--seed", "1"],
            f"jetcnn generate --jets {n}")
    return path


def peak_rss(p, n):
    out = os.path.join(a.workdir, f"run-{p}-{n}")
    cmd = [a.mpiexec, "-n", str(p), "--oversubscribe", sys.executable, os.path.abspath(__file__), "--wrap",
           a.jetcnn, "train", a.config, "--train", data_file(n), "--out", out, "--force"]
    for s in sets:
        cmd += ["--set", s]
    r = run(cmd, f"train on {n} jets with {p} ranks")
    kb = [int(x) for x in re.findall(rf"{MARK} (\d+)", r.stderr)]  # ranks' lines may arrive joined
    if len(kb) != p:
        sys.exit(f"rss_per_rank.py: expected {p} RSS reports, got {len(kb)}:\n{r.stderr}")
    return max(kb) * 1024, min(kb) * 1024


budget, parts = budget_bytes()
print(f"peak RSS per rank, MB (largest over the ranks of each run; 10^6 bytes): {os.path.basename(a.config)}, "
      f"1 epoch, --set {' '.join(a.set) or '(none)'}, OMP_NUM_THREADS={a.threads}")
print("budget per rank: weights %.1f + optimizer %.1f + activations %.1f + shuffle window %.1f + 60 = %.1f MB"
      % tuple([x / MB for x in parts] + [budget / MB]))
print("  P " + "".join(f"{n:>10}" for n in a.sizes) + f"{'growth':>10}  verdict")
failed = []
for p in a.ranks:
    row = []
    for n in a.sizes:
        hi, lo = peak_rss(p, n)
        row.append(hi)
    growth = (row[-1] - row[0]) / MB
    ok = growth <= a.tolerance_mb and max(row) <= budget
    if not ok:
        failed.append(p)
    verdict = "flat" if ok else ("GROWS" if growth > a.tolerance_mb else "OVER BUDGET")
    print(f"{p:>3} " + "".join(f"{x / MB:>10.1f}" for x in row) + f"{growth:>+10.1f}  {verdict}", flush=True)
if failed:
    print(f"not flat for P = {' '.join(map(str, failed))}: growth from {a.sizes[0]} to {a.sizes[-1]} jets must be "
          f"<= {a.tolerance_mb:g} MB and every run <= {budget / MB:.1f} MB")
    sys.exit(1 if a.check else 0)
print(f"flat: growth <= {a.tolerance_mb:g} MB and within the budget for every P")
