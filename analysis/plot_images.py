#!/usr/bin/python3
"""Plot jet images: the average image of QCD and of top jets, and a few single jets of each,
on a logarithmic colour scale. Reads an HDF5 jet-image file with /images float32 (N,H,W) or
(N,H,W,C) (channels are summed unless --channel is given) and /labels (0 QCD, 1 top).
Writes OUT (PNG) and OUT as PDF.

example:  /usr/bin/python3 analysis/plot_images.py data/test.h5 --out runs/demo/images.png
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jetcnn_plot as jp  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402

PROG = "plot_images.py"


def main():
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", metavar="IMAGES.h5", help="jet-image file (/images, /labels)")
    ap.add_argument("--out", default="images.png", help="output PNG; the PDF goes next to it (default images.png)")
    ap.add_argument("--max-jets", type=int, default=20000, help="jets read for the averages (default 20000)")
    ap.add_argument("--singles", type=int, default=3, help="single jets shown per class (default 3)")
    ap.add_argument("--channel", type=int, help="show this channel of (N,H,W,C) images instead of their sum")
    args = ap.parse_args()
    if args.max_jets < 1 or args.singles < 0:
        jp.die(PROG, "--max-jets must be >= 1 and --singles >= 0")
    h5py = jp.require_h5py(PROG)
    if not os.path.isfile(args.input):
        jp.die(PROG, f"{args.input}: no such file")
    try:
        with h5py.File(args.input, "r") as f:
            for name in ("images", "labels"):
                if name not in f:
                    raise ValueError(f"{args.input}: dataset /{name} is missing")
            shape = f["images"].shape
            if len(shape) not in (3, 4) or f["labels"].shape != (shape[0],):
                raise ValueError(f"{args.input}: /images has shape {shape} and /labels {f['labels'].shape}, "
                                 "expected (N,H,W) or (N,H,W,C) and (N,)")
            n = min(shape[0], args.max_jets)
            images = f["images"][:n].astype(np.float64)
            labels = f["labels"][:n]
    except (ValueError, OSError) as exc:
        jp.die(PROG, str(exc))
    if images.ndim == 4:
        if args.channel is None:
            images = images.sum(axis=3)
        elif 0 <= args.channel < images.shape[3]:
            images = images[..., args.channel]
        else:
            jp.die(PROG, f"--channel {args.channel}: the images have {images.shape[3]} channels")

    classes = [(0, "QCD"), (1, "top")]
    cols = 1 + args.singles
    fig, axes = jp.plt.subplots(2, cols, figsize=(3.2 * cols, 6.2), squeeze=False)
    for row, (cls, name) in enumerate(classes):
        jets = images[labels == cls]
        panels = [(f"average {name} ({len(jets)} jets)", jets.mean(axis=0) if len(jets) else None)]
        panels += [(f"{name} jet {i}", jets[i] if i < len(jets) else None) for i in range(args.singles)]
        for ax, (title, img) in zip(axes[row], panels):
            ax.set_title(title, fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            positive = img[img > 0] if img is not None else np.array([])
            if positive.size == 0:
                ax.text(0.5, 0.5, "no jet / empty", ha="center", va="center", transform=ax.transAxes)
                continue
            im = ax.imshow(np.where(img > 0, img, np.nan), origin="lower", cmap="viridis",
                           norm=LogNorm(vmin=positive.min(), vmax=positive.max()))
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    for ax in axes[:, 0]:
        ax.set_ylabel("pixel row (phi)")
    for ax in axes[1]:
        ax.set_xlabel("pixel column (eta)")
    jp.save(fig, args.out, PROG)


if __name__ == "__main__":
    main()
