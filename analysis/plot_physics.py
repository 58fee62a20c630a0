#!/usr/bin/python3
"""Physics plots of a jet file written by `jetcnn generate` (or `jetcnn images`): jet mass and
tau32 = tau3/tau2 for top and QCD jets, and the average of the first N images of each class.
Prints the acceptance numbers of docs/physics.md. Writes OUT_mass.png, OUT_tau32.png,
OUT_images.png (and .pdf)."""
import argparse
import sys

import matplotlib

matplotlib.use("Agg")
import h5py  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def save(fig, stem):
    fig.tight_layout()
    for ext in ("png", "pdf"):
        fig.savefig(f"{stem}.{ext}", dpi=120)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("file", help="HDF5 jet file with /labels, /jet_mass, /tau2, /tau3 and /images")
    ap.add_argument("--out", default="physics", help="output file stem (default: physics)")
    ap.add_argument("--images", type=int, default=1000, help="images averaged per class (default 1000)")
    args = ap.parse_args(argv)
    try:
        f = h5py.File(args.file, "r")
        y = f["labels"][:]
        mass = f["jet_mass"][:]
        tau32 = f["tau3"][:] / np.maximum(f["tau2"][:], 1e-12)
    except (OSError, KeyError) as e:
        print(f"plot_physics: error: {args.file}: {e}", file=sys.stderr)
        return 3
    classes = [(1, "top", "tab:red"), (0, "QCD", "tab:blue")]

    fig, ax = plt.subplots(figsize=(5, 4))
    for label, name, colour in classes:
        ax.hist(mass[y == label], bins=np.arange(0, 400, 5), histtype="step", density=True, color=colour, label=name)
    ax.set_xlabel("jet mass [GeV]")
    ax.set_ylabel("normalised")
    ax.legend()
    save(fig, f"{args.out}_mass")

    fig, ax = plt.subplots(figsize=(5, 4))
    for label, name, colour in classes:
        ax.hist(tau32[y == label], bins=np.linspace(0, 1.2, 49), histtype="step", density=True, color=colour,
                label=name)
    ax.set_xlabel(r"$\tau_3/\tau_2$")
    ax.set_ylabel("normalised")
    ax.legend()
    save(fig, f"{args.out}_tau32")

    if "images" in f:
        images = f["images"]
        extent = float(images.attrs.get("extent", 1.6)) / 2
        fig, axes = plt.subplots(1, 2, figsize=(9, 4))
        for ax, (label, name, _) in zip(axes, classes):
            rows = np.flatnonzero(y == label)[: args.images]
            avg = np.zeros(images.shape[1:], np.float64)
            for start in range(0, len(rows), 256):
                avg += images[np.sort(rows[start:start + 256])].sum(axis=0)
            avg /= max(len(rows), 1)
            if avg.ndim == 3:
                avg = avg[..., :2].sum(axis=-1)  # colour: charged + neutral pT
            im = ax.imshow(np.log10(avg + 1e-6), extent=(-extent, extent, -extent, extent), cmap="viridis",
                           vmin=-5)
            ax.set_title(f"{name}: mean of {len(rows)} images")
            ax.set_xlabel("x (rotated)")
            ax.set_ylabel("y (principal axis)")
            fig.colorbar(im, ax=ax, label="log10 pT fraction")
        save(fig, f"{args.out}_images")

    top, qcd = y == 1, y == 0
    hist, edges = np.histogram(mass[top], bins=np.arange(0, 400, 5))
    print(f"top mass peak {edges[hist.argmax()] + 2.5:.1f} GeV, median {np.median(mass[top]):.1f} GeV")
    print(f"QCD median mass {np.median(mass[qcd]):.1f} GeV, {100 * (mass[qcd] > 150).mean():.1f}% above 150 GeV")
    print(f"median tau32: top {np.median(tau32[top]):.3f}, QCD {np.median(tau32[qcd]):.3f}")
    print(f"wrote {args.out}_mass, {args.out}_tau32, {args.out}_images (.png, .pdf)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
