#!/usr/bin/python3
"""Generator speed per core: `jetcnn generate` of several binaries, alternating, medians.

For each binary, rank count and repeat: `mpiexec -np P jetcnn generate --jets N` with
OMP_NUM_THREADS=1 (one core per rank). Reports jets per CPU second (user + system of the whole
mpiexec and its children, MPI start-up included: the cost of a jet on one core, which other
jobs on a shared machine barely change) and jets per wall second per rank. The binaries run
back to back in turn, so that both see the same load.

usage: bench_generate.py --bin NAME=PATH [--bin NAME=PATH ...] [--jets 40000] [--np 1,2]
       [--repeats 5] [--workdir DIR] [--extra "--no-images"]
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import time


def one_run(binary, np_, jets, out, extra, env):
    cmd = ["mpiexec", "--oversubscribe", "-np", str(np_), binary, "generate", "--jets", str(jets), "--seed", "1",
           "--out", out] + extra
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit(f"bench_generate.py: {' '.join(cmd)} failed:\n{r.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    size = os.path.getsize(out)
    os.remove(out)
    return cpu, wall, size


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", action="append", required=True, help="NAME=PATH of a jetcnn binary")
    ap.add_argument("--jets", type=int, default=40000)
    ap.add_argument("--np", default="1,2")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--workdir", default="/tmp/bench_generate")
    ap.add_argument("--extra", default="", help="more generate options, e.g. --no-images")
    a = ap.parse_args()
    bins = [b.split("=", 1) for b in a.bin]
    env = dict(os.environ, OMP_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    os.makedirs(a.workdir, exist_ok=True)
    out = os.path.join(a.workdir, "gen.h5")
    extra = a.extra.split()
    res = {}
    loads = []
    for rep in range(a.repeats):
        for np_ in map(int, a.np.split(",")):
            for name, path in bins:
                res.setdefault((name, np_), []).append(one_run(path, np_, a.jets, out, extra, env))
        with open("/proc/loadavg") as f:
            loads.append(float(f.read().split()[0]))
    print(f"{a.jets} jets {' '.join(extra)}, {a.repeats} repeats, medians; load average {min(loads):.1f}-{max(loads):.1f}")
    print("| binary | ranks | jets per CPU second | jets per wall second per rank | bytes per jet |")
    print("|---|---|---|---|---|")
    for (name, np_), runs in res.items():
        cpu = statistics.median(r[0] for r in runs)
        wall = statistics.median(r[1] for r in runs)
        size = statistics.median(r[2] for r in runs)
        print(f"| {name} | {np_} | {a.jets / cpu:,.0f} | {a.jets / wall / np_:,.0f} | {size / a.jets:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
