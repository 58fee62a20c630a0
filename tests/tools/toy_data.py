#!/usr/bin/python3
"""Write a small learnable jet-image-like HDF5 file for tests: class 1 images carry
three blobs (a 3-prong 'top'), class 0 one central blob (a 'QCD' jet), plus noise.

usage: toy_data.py OUT.h5 --n N [--shape 40x40x1] [--classes 2] [--seed S] [--channels-last]
"""
import argparse
import sys

import numpy as np

try:
    import h5py
except ImportError as e:  # a missing dependency is a failure, never a silent skip
    sys.exit(f"toy_data.py: needs Debian's python3-h5py ({e})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--shape", default="40x40x1", help="H x W x C")
    ap.add_argument("--classes", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--channels-last", action="store_true", help="write (N,H,W,C) even for C = 1")
    a = ap.parse_args()
    h, w, c = (int(v) for v in a.shape.split("x"))
    rng = np.random.default_rng(a.seed)
    labels = rng.integers(0, a.classes, size=a.n).astype(np.int32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    images = np.zeros((a.n, h, w, c), np.float32)
    for i in range(a.n):
        prongs = 1 + 2 * (labels[i] % 2) + labels[i] // 2
        for p in range(prongs):
            cy = h / 2 + (rng.normal(0, h / 6) if p else rng.normal(0, 1))
            cx = w / 2 + (rng.normal(0, w / 6) if p else rng.normal(0, 1))
            amp = rng.uniform(0.3, 1.0)
            images[i, :, :, :] += (amp * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 4.0))[:, :, None]
        images[i] += rng.exponential(0.02, size=(h, w, c)).astype(np.float32)
    jet_mass = (images.sum(axis=(1, 2, 3)) * 40 + rng.normal(0, 5, a.n)).astype(np.float32)
    with h5py.File(a.out, "w") as f:
        f.attrs["format"] = "jetcnn-jets-1"
        f["images"] = images if (c > 1 or a.channels_last) else images[..., 0]
        f["labels"] = labels
        f["jet_mass"] = jet_mass


if __name__ == "__main__":
    main()
