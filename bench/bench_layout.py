#!/usr/bin/python3
"""Measure jet-file layouts: write time, file size and the trainer's read time (issue 14).

Generates JETS jets once with `jetcnn generate` (seed 1), then for every layout (chunk rows x
shuffle x deflate level; shuffle on no dataset "none", on every one "all", on all but /images
"dense") writes them with `bench_jetfile write` (the library's writer,
from memory, create to fsync'ed commit) and reads the result back with `bench_jetfile read`
(one shuffled epoch through data_open / plan / data_read, as `jetcnn train` reads). Each
repeat visits the layouts in a new random order, so that a change of load on a shared machine
spreads over all of them; the table gives medians over repeats.

Choice (docs/physics.md): the smallest median training read time (CPU seconds) wins; layouts
within TOL of it are tied and the tie goes to the smaller write time, then (again within TOL)
to the smaller file.

usage: bench_layout.py --build BUILD [--jets 50000] [--repeats 5] [--workdir DIR] [--json OUT]
       [--rows 64,128,256,512,1024] [--levels 1,2,3,4] [--shuffle none,all,dense] [--np 1]
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys


def run_json(cmd, env):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"bench_layout.py: {' '.join(cmd)} failed ({r.returncode}):\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def choose(rows, tol):
    """Lexicographic with ties: read time, then write time, then size."""
    best_read = min(r["read_cpu_s"] for r in rows)
    c = [r for r in rows if r["read_cpu_s"] <= best_read * (1 + tol)]
    best_write = min(r["write_cpu_s"] for r in c)
    c = [r for r in c if r["write_cpu_s"] <= best_write * (1 + tol)]
    return min(c, key=lambda r: r["bytes"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True, help="build directory with jetcnn and bench/bench_jetfile")
    ap.add_argument("--jets", type=int, default=50000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--workdir", default="/tmp/bench_layout")
    ap.add_argument("--json", help="write the medians here")
    ap.add_argument("--rows", default="64,128,256,512,1024")
    ap.add_argument("--levels", default="1,2,3,4")
    ap.add_argument("--shuffle", default="none,all,dense")
    ap.add_argument("--np", type=int, default=1, help="ranks for the writes (reads use one)")
    ap.add_argument("--mpiexec", default="mpiexec")
    ap.add_argument("--tol", type=float, default=0.05, help="relative difference counted as a tie")
    a = ap.parse_args()
    jetcnn = os.path.join(a.build, "jetcnn")
    tool = os.path.join(a.build, "bench", "bench_jetfile")
    for p in (jetcnn, tool):
        if not os.access(p, os.X_OK):
            sys.exit(f"bench_layout.py: {p} not found (build with -DJETCNN_BENCH=ON)")
    env = dict(os.environ, OMP_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    os.makedirs(a.workdir, exist_ok=True)
    src = os.path.join(a.workdir, f"jets{a.jets}.h5")
    if not os.path.exists(src):
        r = subprocess.run([jetcnn, "generate", "--jets", str(a.jets), "--seed", "1", "--out", src],
                           capture_output=True, text=True, env=env)
        if r.returncode != 0:
            sys.exit(f"bench_layout.py: generate failed:\n{r.stderr}")
    layouts = [(rows, sh, lv) for rows in map(int, a.rows.split(",")) for sh in a.shuffle.split(",")
               for lv in map(int, a.levels.split(","))]
    launch = [a.mpiexec, "--oversubscribe", "-np", str(a.np)] if a.np > 1 else []
    samples = {l: [] for l in layouts}
    loads = [loadavg()]
    out = os.path.join(a.workdir, "layout.h5")
    for rep in range(a.repeats):
        order = layouts[:]
        random.Random(rep).shuffle(order)
        for rows, sh, lv in order:
            w = run_json(launch + [tool, "write", src, out, str(rows), str(sh), str(lv)], env)
            r = run_json([tool, "read", out], env)
            if r["jets"] != a.jets or r["chunk_rows"] != min(rows, a.jets):
                sys.exit(f"bench_layout.py: read back {r} from a file of {a.jets} jets in chunks of {rows}")
            samples[(rows, sh, lv)].append({**w, **r})
            os.remove(out)
        loads.append(loadavg())
        print(f"repeat {rep + 1}/{a.repeats} done, load average {loads[-1]:.1f}", file=sys.stderr, flush=True)
    table = []
    for (rows, sh, lv), ss in samples.items():
        med = {k: statistics.median(s[k] for s in ss)
               for k in ("write_wall_s", "write_cpu_s", "read_wall_s", "read_cpu_s", "bytes")}
        table.append(dict(chunk_rows=rows, shuffle=sh, level=lv, **med))
    table.sort(key=lambda r: r["read_cpu_s"])
    pick = choose(table, a.tol)
    us = 1e6 / a.jets
    print(f"{a.jets} jets, {a.repeats} repeats, writes on {a.np} rank(s), medians; "
          f"load average {min(loads):.1f}-{max(loads):.1f}")
    print("| chunk rows | shuffle | deflate | read CPU µs/jet | read wall µs/jet | write CPU µs/jet | "
          "write wall µs/jet | bytes/jet |")
    print("|---|---|---|---|---|---|---|---|")
    for r in table:
        mark = " **(chosen)**" if r is pick else ""
        print(f"| {r['chunk_rows']} | {r['shuffle']} | {r['level']} | "
              f"{r['read_cpu_s'] * us:.1f} | {r['read_wall_s'] * us:.1f} | {r['write_cpu_s'] * us:.1f} | "
              f"{r['write_wall_s'] * us:.1f} | {r['bytes'] / a.jets:.0f}{mark} |")
    print(f"chosen: {pick['chunk_rows']} rows, shuffle {pick['shuffle']}, deflate {pick['level']}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(jets=a.jets, repeats=a.repeats, np=a.np, loads=loads, table=table, chosen=pick,
                           samples={f"{k[0]}/{k[1]}/{k[2]}": v for k, v in samples.items()}), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
