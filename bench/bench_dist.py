#!/usr/bin/python3
"""Data-parallel training throughput on this machine: DeepTop from an HDF5 file with
P = 1 x 2 threads, P = 2 x 1 thread and P = 4 x 1 thread (oversubscribed), each from
(a) the compressed, chunked file `jetcnn generate` writes and (b) the same jets as an
uncompressed file in /dev/shm (the input pipeline nearly free), with `jetcnn train
--profile`'s shares of the step time spent reading (waiting for the prefetch),
computing, and in the allreduce (including waiting for slower ranks).

usage: bench_dist.py [--build build] [--jets 20000] [--epochs 2] [--out bench_dist.json]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

try:
    import h5py
except ImportError as e:
    sys.exit(f"bench_dist.py: needs Debian's python3-h5py ({e})")

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--build", default="build")
ap.add_argument("--jets", type=int, default=20000)
ap.add_argument("--epochs", type=int, default=2)
ap.add_argument("--config", default="configs/deeptop.cfg")
ap.add_argument("--out", default=None, help="write the results as JSON here")
a = ap.parse_args()
jetcnn = os.path.join(a.build, "jetcnn")
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
work = tempfile.mkdtemp(prefix="jetcnn-bench-")
disk = os.path.join(work, "jets.h5")
subprocess.run(["mpiexec", "--oversubscribe", "-np", "2", jetcnn, "generate", "--jets", str(a.jets), "--seed", "1",
                "--out", disk], env=dict(env, OMP_NUM_THREADS="1"), check=True, capture_output=True)
shm = os.path.join("/dev/shm", f"jetcnn-bench-{os.getpid()}.h5")
with h5py.File(disk, "r") as src, h5py.File(shm, "w") as dst:
    dst["images"] = src["images"][()]   # contiguous, uncompressed
    dst["labels"] = src["labels"][()]

pattern = re.compile(r"epoch (\d+)/\d+: .*\| (\d+) img/s.*\n\s+profile .*read ([\d.]+)%\s+forward\+backward ([\d.]+)%"
                     r"\s+allreduce \(incl\. waiting for other ranks\) ([\d.]+)%\s+optimizer ([\d.]+)%")
results = []
print(f"{'input':<22} {'ranks x threads':>15} {'img/s':>8} {'read':>7} {'compute':>8} {'allreduce':>10}")
for label, path in (("HDF5 deflate (disk)", disk), ("uncompressed /dev/shm", shm)):
    for ranks, threads in ((1, 2), (2, 1), (4, 1)):
        # Each rank bound to as many cores as it has threads (mpirun binds to one core by default).
        bind = ["--map-by", f"slot:PE={threads}"] if threads > 1 else ["--oversubscribe"]
        cmd = ["mpiexec", *bind, "-np", str(ranks), jetcnn, "train", a.config, "--train", path,
               "--out", os.path.join(work, f"run{ranks}"), "--force", "--profile", "--set", f"epochs={a.epochs}"]
        r = subprocess.run(cmd, env=dict(env, OMP_NUM_THREADS=str(threads)), capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"bench_dist.py: {' '.join(cmd)} failed:\n{r.stderr}")
        last = pattern.findall(r.stdout)[-1]   # the last epoch (the first one warms up)
        row = dict(input=label, ranks=ranks, threads=threads, img_per_s=int(last[1]), read_pct=float(last[2]),
                   compute_pct=float(last[3]), allreduce_pct=float(last[4]))
        results.append(row)
        print(f"{label:<22} {f'{ranks} x {threads}':>15} {row['img_per_s']:>8} {row['read_pct']:>6.1f}% "
              f"{row['compute_pct']:>7.1f}% {row['allreduce_pct']:>9.1f}%")
os.unlink(shm)
if a.out:
    with open(a.out, "w") as f:
        json.dump(results, f, indent=1)
