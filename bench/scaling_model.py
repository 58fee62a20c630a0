#!/usr/bin/python3
"""Alpha-beta model of jetcnn's data-parallel scaling (docs/scaling.md).

Per step every rank computes its micro-batches (one per thread in parallel), then two
allreduces: a tiny MAX over the segment maxima (latency only) and the SUM of the int64
fixed-point gradients (8 bytes per parameter). Ring allreduce of n bytes over P ranks:
  T = 2 (P-1) alpha + 2 (P-1)/P n beta.
Efficiency = T_compute / (T_compute + T_allreduce) (no overlap: see docs/scaling.md).

usage: scaling_model.py --micro-ms T --params N [--alpha-us 1.5] [--gbps 12.5] [--threads 1]
"""
import argparse

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--micro-ms", type=float, required=True, help="measured compute time of one micro-batch on one core")
ap.add_argument("--micro", type=int, default=32, help="jets per micro-batch")
ap.add_argument("--params", type=int, required=True, help="model parameters")
ap.add_argument("--alpha-us", type=float, default=1.5, help="per-message latency (InfiniBand HDR + MPI)")
ap.add_argument("--gbps", type=float, default=12.5, help="link bandwidth in GB/s (HDR 100 Gb/s = 12.5 GB/s)")
ap.add_argument("--threads", type=int, default=1, help="OpenMP threads per rank")
ap.add_argument("--per-thread", type=int, default=1, help="micro-batches per thread per step")
a = ap.parse_args()

alpha, beta = a.alpha_us * 1e-6, 1.0 / (a.gbps * 1e9)
n_bytes = 8 * (a.params + 3)
print(f"model: {a.params:,} parameters -> {n_bytes / 1e3:.0f} kB of int64 per allreduce; "
      f"micro-batch {a.micro} jets = {a.micro_ms:.1f} ms on one core")
print(f"{'ranks':>6} {'global batch':>13} {'compute ms':>11} {'allreduce ms':>13} {'efficiency':>11} {'img/s':>12}")
for p in (1, 16, 64, 256, 1024):
    batch = a.micro * a.per_thread * a.threads * p
    t_c = a.micro_ms * 1e-3 * a.per_thread
    ring = 2 * (p - 1) * alpha + 2 * (p - 1) / p * n_bytes * beta
    maxima = 2 * alpha * (p - 1).bit_length()  # the small MAX allreduce: recursive doubling, latency only
    t_ar = 0.0 if p == 1 else ring + maxima
    eff = t_c / (t_c + t_ar)
    print(f"{p:>6} {batch:>13,} {t_c * 1e3:>11.1f} {t_ar * 1e3:>13.3f} {eff:>10.1%} {batch / (t_c + t_ar):>12,.0f}")
