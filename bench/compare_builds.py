#!/usr/bin/python3
"""Training speed of two builds of jetcnn on the same runs, interleaved: e.g. the default
-march=native build against a portable -march=x86-64-v3 one (docs/cluster.md, "A binary for
the compute nodes"; results in docs/performance.md).

Each round runs, for each build in turn (A then B, then B then A in the next round, so that
neither always goes first):
  - `jetcnn train CONFIG` for one epoch on --data (I/O, decompression and all), img/s as the
    trainer prints it;
  - `bench/jc_bench CONFIG --batch B` (the training step's compute on jets in memory), img/s.
Prints the median over the rounds of each, and the median of the per-round ratios B/A.

usage: compare_builds.py --a BUILD_A --b BUILD_B --data JETS.h5 [--config configs/deeptop.cfg ...]
                         [--bench-config configs/lecture.cfg ...]
                         [--rounds 5] [--threads 2] [--batch 128] [--steps 30]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
src = os.path.dirname(here)
ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--a", required=True, help="build directory A (holds jetcnn and bench/jc_bench)")
ap.add_argument("--b", required=True, help="build directory B")
ap.add_argument("--data", required=True, help="training file for the end-to-end runs (jetcnn generate)")
ap.add_argument("--config", action="append", default=[], help="configs for both measurements (input of --data)")
ap.add_argument("--bench-config", action="append", default=[], help="configs for jc_bench only")
ap.add_argument("--rounds", type=int, default=5)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--batch", type=int, default=128)
ap.add_argument("--steps", type=int, default=30)
ap.add_argument("--workdir", default="/tmp/compare_builds")
a = ap.parse_args()
configs = a.config or [os.path.join(src, "configs", "deeptop.cfg")]
env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), JETCNN_PROGRESS="none")
os.makedirs(a.workdir, exist_ok=True)


def run(cmd):
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"compare_builds.py: {' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}{p.stderr}")
    return p.stdout


def train_rate(build, cfg):
    out = run([os.path.join(build, "jetcnn"), "train", cfg, "--train", a.data, "--out",
               os.path.join(a.workdir, "run"), "--force", "--set", "epochs=1"])
    return float(re.search(r"\| (\d+) img/s", out).group(1))


def bench_rate(build, cfg):
    out = run([os.path.join(build, "bench", "jc_bench"), cfg, "--batch", str(a.batch), "--steps", str(a.steps),
               "--mode", "train"])
    return float(json.loads(out)["train_img_s"])


for name, build in (("A", a.a), ("B", a.b)):
    version = run([os.path.join(build, "jetcnn"), "--version"]).splitlines()[-1]
    print(f"{name}: {build}: {version}")
print(f"OMP_NUM_THREADS={a.threads}, 1 rank, {a.rounds} rounds, load average at start "
      f"{os.getloadavg()[0]:.1f}")
jobs = [(c, "train, 1 epoch", train_rate) for c in configs] + \
    [(c, f"jc_bench batch {a.batch}", bench_rate) for c in configs + a.bench_config]
for cfg, what, measure in jobs:
    rates = {"A": [], "B": []}
    for r in range(a.rounds):
        for name in ("A", "B") if r % 2 == 0 else ("B", "A"):
            rates[name].append(measure(a.a if name == "A" else a.b, cfg))
    ratio = statistics.median(b / x for x, b in zip(rates["A"], rates["B"]))
    print(f"{os.path.basename(cfg):14s} {what:22s} A {statistics.median(rates['A']):8.0f} img/s   "
          f"B {statistics.median(rates['B']):8.0f} img/s   B/A {ratio:.3f}   "
          f"(A {' '.join(f'{x:.0f}' for x in rates['A'])}; B {' '.join(f'{x:.0f}' for x in rates['B'])})",
          flush=True)
print(f"load average at end {os.getloadavg()[0]:.1f}")
