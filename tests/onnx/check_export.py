#!/usr/bin/python3
"""Export a briefly trained model to ONNX and check it against `jetcnn predict`.

Trains CONFIG for one epoch on toy data (tests/tools/toy_data.py), exports the checkpoint
with `jetcnn export`, checks the file with onnx.checker (full check: shapes and types too),
runs it in ONNX Runtime through Node (run_ort.js, onnxruntime-node from package-lock.json)
on a test file that also holds an all-zero image and a one-pixel image, and compares the
probabilities with the ones `jetcnn predict` writes: max |ORT - predict| <= --tol. The
model also runs on a batch of 3 (the dynamic batch dimension). With --perturb, a copy of the
model with one weight changed by 0.05 must miss the tolerance: the comparison can fail.

usage: check_export.py --jetcnn BIN --config CFG --shape HxWxC --classes K --workdir DIR [--perturb]
Prints one line per model: export time and the max difference.
"""
import argparse
import os
import shutil
import subprocess
import sys
import time

import numpy as np

try:
    import h5py
    import onnx
    from onnx import numpy_helper
except ImportError as e:  # a missing dependency is a failure, never a skip
    sys.exit(f"check_export.py: needs Debian's python3-h5py and python3-onnx ({e})")

HERE = os.path.dirname(os.path.abspath(__file__))
TOY = os.path.join(HERE, "..", "tools", "toy_data.py")
RUN_ORT = os.path.join(HERE, "run_ort.js")


def fail(msg):
    sys.exit(f"check_export.py: FAIL: {msg}")


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        fail(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout}{r.stderr}")
    return r.stdout


def make_test_file(src, dst, shape):
    """dst: the jets of src plus an all-zero image and an image with one pixel set."""
    with h5py.File(src, "r") as f:
        images = f["images"][...]
        labels = f["labels"][...]
    zero = np.zeros((1,) + images.shape[1:], np.float32)
    one = np.zeros_like(zero)
    h, w, _ = shape
    one[(0, h // 3, w // 2) + (() if one.ndim == 3 else (one.shape[3] - 1,))] = 0.7
    images = np.concatenate([images, zero, one]).astype(np.float32)
    labels = np.concatenate([labels, [0, 1]]).astype(np.int32)
    with h5py.File(dst, "w") as f:
        f.attrs["format"] = "jetcnn-jets-1"
        f["images"] = images
        f["labels"] = labels
    return images


def ort_probs(model, images, workdir, tag):
    """Run model on images in ONNX Runtime via Node; returns (N, K) float32."""
    node = shutil.which("node")
    if not node:
        fail("node (Node.js 20) is not on PATH; it runs ONNX Runtime for this test")
    inp = os.path.join(workdir, f"{tag}.images.f32")
    out = os.path.join(workdir, f"{tag}.probs.f32")
    np.ascontiguousarray(images, "<f4").tofile(inp)
    dims = ",".join(str(d) for d in images.shape)
    r = subprocess.run([node, RUN_ORT, model, inp, dims, out], capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"ONNX Runtime ({RUN_ORT}) failed:\n{r.stdout}{r.stderr}")
    got = [int(d) for d in r.stdout.strip().split(",")]
    probs = np.fromfile(out, "<f4")
    if got[0] != images.shape[0] or probs.size != got[0] * got[1]:
        fail(f"ONNX Runtime returned shape {got} for {images.shape[0]} images")
    return probs.reshape(got)


def check_model_file(path, shape, classes):
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    opsets = {o.domain: o.version for o in m.opset_import}
    if opsets != {"": 13}:
        fail(f"{path}: opset imports {opsets}, expected the default domain at 13")

    def dims(v):
        return [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]

    h, w, c = shape
    want_in = ["N", h, w] + ([c] if c > 1 else [])
    if [i.name for i in m.graph.input] != ["images"] or dims(m.graph.input[0]) != want_in:
        fail(f"{path}: input {[(i.name, dims(i)) for i in m.graph.input]}, expected images {want_in}")
    if [o.name for o in m.graph.output] != ["probs"] or dims(m.graph.output[0]) != ["N", classes]:
        fail(f"{path}: output {[(o.name, dims(o)) for o in m.graph.output]}, expected probs ['N', {classes}]")
    return m


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jetcnn", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--shape", required=True, help="H x W x C of the config's input")
    ap.add_argument("--classes", type=int, required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--n-train", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--n-test", type=int, default=62)
    ap.add_argument("--tol", type=float, default=1e-5)
    ap.add_argument("--perturb", action="store_true", help="also show that a changed weight fails the comparison")
    a = ap.parse_args()
    shape = tuple(int(v) for v in a.shape.split("x"))
    name = os.path.splitext(os.path.basename(a.config))[0]
    wd = a.workdir
    shutil.rmtree(wd, ignore_errors=True)
    os.makedirs(wd)
    py = sys.executable
    train, raw, test = (os.path.join(wd, f) for f in ("train.h5", "raw_test.h5", "test.h5"))
    run([py, TOY, train, "--n", str(a.n_train), "--shape", a.shape, "--classes", str(a.classes), "--seed", "3"])
    run([py, TOY, raw, "--n", str(a.n_test), "--shape", a.shape, "--classes", str(a.classes), "--seed", "4"])
    images = make_test_file(raw, test, shape)

    rundir = os.path.join(wd, "run")
    run([a.jetcnn, "train", a.config, "--train", train, "--out", rundir, "--set", f"epochs={a.epochs}", "--set", "batch=32"])
    ckpt = os.path.join(rundir, "checkpoint.h5")
    model = os.path.join(wd, f"{name}.onnx")
    t0 = time.perf_counter()
    out = run([a.jetcnn, "export", ckpt, "--onnx", model])
    export_s = time.perf_counter() - t0
    if not os.path.exists(model) or os.path.exists(model + ".tmp"):
        fail(f"export did not leave exactly {model}: {os.listdir(wd)}")
    m = check_model_file(model, shape, a.classes)

    scores = os.path.join(wd, "scores.h5")
    run([a.jetcnn, "predict", ckpt, "--data", test, "--out", scores])
    with h5py.File(scores, "r") as f:
        if a.classes > 2:
            ref = f["probs"][...]
        else:
            s = f["score"][...]
            ref = np.stack([1.0 - s, s], axis=1)
    probs = ort_probs(model, images, wd, "all")
    if probs.shape != ref.shape:
        fail(f"ONNX Runtime gives {probs.shape}, predict {ref.shape}")
    if not np.all(np.isfinite(probs)):
        fail(f"non-finite ONNX Runtime probabilities in rows {np.where(~np.isfinite(probs).all(1))[0]}")
    diff = np.abs(probs.astype(np.float64) - ref)
    worst = float(diff.max())
    special = float(diff[-2:].max())  # the all-zero and the one-pixel image
    if worst > a.tol:
        i = int(diff.max(axis=1).argmax())
        fail(f"{name}: max |ORT - predict| = {worst:.3g} > {a.tol:g} (jet {i}: ORT {probs[i]}, predict {ref[i]})")
    # The dynamic batch dimension: the last 3 jets alone give the same probabilities.
    few = ort_probs(model, images[-3:], wd, "few")
    worst_few = float(np.abs(few.astype(np.float64) - ref[-3:]).max())
    if worst_few > a.tol:
        fail(f"{name}: a batch of 3 differs from predict by {worst_few:.3g} > {a.tol:g}")

    line = (f"{name}: export {export_s:.3f} s ({os.path.getsize(model)} bytes, {len(m.graph.node)} nodes); "
            f"max |ORT - predict| = {worst:.3g} over {len(images)} jets x {a.classes} classes "
            f"(all-zero and one-pixel images: {special:.3g}; batch of 3: {worst_few:.3g}); "
            f"P(class 1) from {ref[:, 1].min():.4f} to {ref[:, 1].max():.4f}")
    if a.perturb:
        # The same comparison on a model whose output bias is off by 0.01 must fail.
        w = [t for t in m.graph.initializer if t.name.endswith("/B")][-1]
        arr = numpy_helper.to_array(w).copy()
        arr.flat[0] += 0.01
        w.CopyFrom(numpy_helper.from_array(arr, w.name))
        bad = os.path.join(wd, f"{name}.perturbed.onnx")
        onnx.save(m, bad)
        off = float(np.abs(ort_probs(bad, images, wd, "perturbed").astype(np.float64) - ref).max())
        if off <= a.tol:
            fail(f"{name}: with {w.name}[0] += 0.01 the difference is only {off:.3g}: the comparison cannot fail")
        line += f"; perturbed {w.name}: {off:.3g} (caught)"
    print(line)
    print(out.strip())


if __name__ == "__main__":
    main()
