#!/usr/bin/python3
"""`jetcnn export` on bad input: the exit code of README's table, a message naming the
problem, and no damage: the checkpoint is never touched, no half-written model or
temporary file is left, and an existing model is replaced whole or not at all.

usage: export_errors.py --jetcnn BIN --workdir DIR
"""
import argparse
import hashlib
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOY = os.path.join(HERE, "..", "tools", "toy_data.py")
CONFIG = os.path.join(HERE, "..", "tools", "every_layer.cfg")


def fail(msg):
    sys.exit(f"export_errors.py: FAIL: {msg}")


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--jetcnn", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    wd = a.workdir
    shutil.rmtree(wd, ignore_errors=True)
    os.makedirs(wd)
    jets = os.path.join(wd, "jets.h5")
    subprocess.run([sys.executable, TOY, jets, "--n", "48", "--shape", "20x20x2", "--classes", "3"], check=True)
    r = subprocess.run([a.jetcnn, "train", CONFIG, "--train", jets, "--out", os.path.join(wd, "run"),
                        "--set", "epochs=1"], capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"training the checkpoint failed:\n{r.stdout}{r.stderr}")
    ckpt = os.path.join(wd, "run", "checkpoint.h5")
    ckpt_sum = digest(ckpt)
    link = os.path.join(wd, "hardlink.onnx")
    os.link(ckpt, link)
    old = os.path.join(wd, "old.onnx")
    with open(old, "wb") as f:
        f.write(b"an older model")
    stale = os.path.join(wd, "stale.onnx")
    os.symlink(ckpt, stale + ".tmp")  # a leftover temporary name pointing at the checkpoint

    cases = [
        # (name, arguments, exit code, words the message must hold)
        ("no --onnx", [ckpt], 2, ["--onnx"]),
        ("no checkpoint", ["--onnx", os.path.join(wd, "x.onnx")], 2, []),
        ("missing checkpoint", [os.path.join(wd, "nope.h5"), "--onnx", os.path.join(wd, "x.onnx")], 3, ["nope.h5"]),
        ("not a checkpoint", [jets, "--onnx", os.path.join(wd, "x.onnx")], 3, ["jets.h5"]),
        ("unwritable output", [ckpt, "--onnx", os.path.join(wd, "no", "such", "dir", "m.onnx")], 4, ["m.onnx.tmp"]),
        ("output is a directory", [ckpt, "--onnx", os.path.join(wd, "run")], 4, ["run"]),
        ("output is the checkpoint", [ckpt, "--onnx", ckpt], 2, ["checkpoint"]),
        ("output is a hard link to the checkpoint", [ckpt, "--onnx", link], 2, ["checkpoint"]),
        ("stale temporary link to the checkpoint", [ckpt, "--onnx", stale], 0, []),
        ("replacing a model", [ckpt, "--onnx", old], 0, []),
    ]
    bad = []
    for name, args, code, words in cases:
        r = subprocess.run([a.jetcnn, "export"] + args, capture_output=True, text=True)
        msg = r.stderr.strip()
        if r.returncode != code:
            bad.append(f"{name}: exit {r.returncode}, expected {code} ({msg})")
        elif code and not msg.startswith("jetcnn: error: "):
            bad.append(f"{name}: no error message (stderr: {msg!r})")
        elif any(w not in msg for w in words):
            bad.append(f"{name}: message {msg!r} does not name {words}")
        if digest(ckpt) != ckpt_sum:
            fail(f"{name}: the checkpoint changed")
        print(f"{name}: exit {r.returncode}: {msg or r.stdout.strip()}")
    leftovers = [f for f in os.listdir(wd) if f.endswith(".tmp")]
    if leftovers:
        bad.append(f"temporary files left: {leftovers}")
    with open(old, "rb") as f:
        if not f.read(64).startswith(b"\x08"):  # ModelProto field 1 (ir_version), varint
            bad.append("old.onnx was not replaced by an ONNX model")
    if os.path.islink(stale) or not os.path.isfile(stale):
        bad.append("stale.onnx is not a regular file")
    if bad:
        fail("\n  ".join([""] + bad))
    print("export_errors: all cases as expected")


if __name__ == "__main__":
    main()
