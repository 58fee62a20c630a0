#!/usr/bin/python3
"""Checks of generated jet files and of `jetcnn images` (issue 5), run from tests/generate.cmake.

  gen_checks.py compare A.h5 B.h5       every dataset and root attribute identical
  gen_checks.py physics FILE.h5         the acceptance numbers of docs/physics.md
  gen_checks.py bad-inputs JETCNN DIR   malformed inputs exit with code 3 and say why
  gen_checks.py convert JETCNN DIR      pandas reference layout -> convert -> jetcnn images
  gen_checks.py write-share STRACE MPIEXEC JETCNN DIR
                                        with 2 ranks, no process writes much more than its half
  gen_checks.py lockstep MPIEXEC JETCNN DIR
                                        2 ranks given different arguments or different files
                                        stop together with one message (no hang, no .tmp)
  gen_checks.py interrupt MPIEXEC JETCNN DIR
                                        SIGINT/SIGTERM (to the process, one rank, mpiexec)
                                        stop generate and images and remove their .tmp
"""
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def compare(a, b):
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        if sorted(fa.keys()) != sorted(fb.keys()):
            fail(f"datasets differ: {sorted(fa.keys())} vs {sorted(fb.keys())}")
        for k in fa.keys():
            x, y = fa[k][...], fb[k][...]
            if x.shape != y.shape or x.dtype != y.dtype or x.tobytes() != y.tobytes():
                fail(f"/{k} differs between {a} and {b}")
            if fa[k].chunks != fb[k].chunks:
                fail(f"/{k}: chunks {fa[k].chunks} vs {fb[k].chunks}")
            for f in (fa, fb):  # HDF5's own filters only: shuffle (not on /images) + deflate
                if f[k].compression != "gzip" or f[k].shuffle != (k != "images"):
                    fail(f"{f.filename} /{k}: compression {f[k].compression}, shuffle {f[k].shuffle}; "
                         f"expected gzip{' and shuffle' if k != 'images' else ' without shuffle'}")
        if dict(fa.attrs) != dict(fb.attrs):
            fail(f"root attributes differ: {dict(fa.attrs)} vs {dict(fb.attrs)}")
        if fa.attrs["format"] != b"jetcnn-jets-1" and fa.attrs["format"] != "jetcnn-jets-1":
            fail(f"format attribute is {fa.attrs['format']}")
        n = fa["labels"].shape[0]
        print(f"{a} == {b}: {len(fa.keys())} datasets, {n} jets")


def mass_window_aucs(mass, labels, peak):
    """AUC of ranking by -|m - peak|, and the best AUC of a single window cut (1 + eS - eB) / 2."""
    from sklearn.metrics import roc_auc_score
    ranking = roc_auc_score(labels, -np.abs(mass - peak))
    best = 0.0
    for lo in range(100, 180, 5):
        for hi in range(lo + 20, 260, 5):
            inside = (mass > lo) & (mass < hi)
            e_s, e_b = inside[labels == 1].mean(), inside[labels == 0].mean()
            if (1 + e_s - e_b) / 2 > best:
                best, window = (1 + e_s - e_b) / 2, (lo, hi)
    return ranking, best, window


def physics(path):
    with h5py.File(path, "r") as f:
        y = f["labels"][:]
        m = f["jet_mass"][:].astype(np.float64)
        tau32 = f["tau3"][:] / np.maximum(f["tau2"][:], 1e-12)
        pt, eta = f["jet_pt"][:], f["jet_eta"][:]
        images = f["images"]
        if images.shape[1:] != (40, 40):
            fail(f"/images shape {images.shape}, expected (N, 40, 40)")
        sums = images[:200].reshape(200, -1).sum(axis=1)
    top, qcd = y == 1, y == 0
    hist, edges = np.histogram(m[top], bins=np.arange(0.0, 400.0, 5.0))
    peak = edges[hist.argmax()] + 2.5
    med_qcd = np.median(m[qcd])
    tail = (m[qcd] > 150).mean()
    ranking, cut, window = mass_window_aucs(m, y, peak)
    print(f"jets {len(y)} (top {top.sum()}), pT {pt.min():.1f}..{pt.max():.1f}, |eta| max {np.abs(eta).max():.2f}")
    print(f"top mass peak {peak:.1f} GeV (median {np.median(m[top]):.1f}); QCD median {med_qcd:.1f} GeV, "
          f"{100 * tail:.1f}% above 150 GeV")
    print(f"median tau32: top {np.median(tau32[top]):.3f}, QCD {np.median(tau32[qcd]):.3f}")
    print(f"mass-window AUC: best single window {window} -> {cut:.3f}; ranking by |m - {peak:.1f}| -> {ranking:.3f}")
    if not 0.4 < top.mean() < 0.6:
        fail(f"top fraction {top.mean():.3f}")
    if pt.min() < 549.9 or pt.max() > 650.1 or np.abs(eta).max() >= 2.0:
        fail("jets outside pT 550-650 GeV, |eta| < 2")
    if not np.allclose(sums, 1.0, atol=1e-4):
        fail("images are not normalised to unit sum")
    if not 165.0 <= peak <= 190.0:
        fail(f"top mass peak {peak} outside 165-190 GeV")
    if not 50.0 <= med_qcd <= 120.0:
        fail(f"QCD median mass {med_qcd} outside 50-120 GeV")
    if tail < 0.03:
        fail(f"QCD tail above 150 GeV is only {tail:.3f}")
    if not np.median(tau32[top]) < np.median(tau32[qcd]):
        fail("median tau32 of top jets is not below that of QCD jets")
    if not 0.80 <= cut <= 0.93:
        fail(f"mass-window cut AUC {cut:.3f} outside 0.80-0.93")


def write_file(path, cons, labels, fmt="jetcnn-constituents-1"):
    with h5py.File(path, "w") as f:
        if fmt is not None:
            f.attrs["format"] = fmt
        f["constituents"] = cons
        f["labels"] = labels


def run_images(jetcnn, src, dst, *extra):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    return subprocess.run([jetcnn, "images", "--in", src, "--out", dst, *extra], capture_output=True, text=True,
                          env=env)


def bad_inputs(jetcnn, tmp):
    os.makedirs(tmp, exist_ok=True)
    good = np.zeros((10, 20, 4), np.float32)
    good[:, 0] = [300.0, 300.0, 0.0, 0.0]
    labels = np.arange(10) % 2
    nan = good.copy()
    nan[7, 0, 2] = np.nan
    cases = [
        ("nan", nan, labels, None, "row 7 constituent 0: non-finite momentum"),
        ("shape3", good[:, :, :3], labels, None, "expected (N,M,4)"),
        ("shape2", good.reshape(10, 80), labels, None, "expected (N,M,4)"),
        ("labels", good, labels[:9], None, "/labels has shape (9)"),
        ("label7", good, np.where(labels == 1, 7, 0), None, "label 7 is not 0 (QCD) or 1 (top)"),
        ("format", good, labels, "something-else", "format is 'something-else'"),
    ]
    for name, cons, lab, fmt, expect in cases:
        src = os.path.join(tmp, f"bad_{name}.h5")
        write_file(src, cons, lab, fmt if fmt is not None else "jetcnn-constituents-1")
        if fmt == "":
            with h5py.File(src, "a") as f:
                del f.attrs["format"]
        out = os.path.join(tmp, f"bad_{name}_out.h5")
        r = run_images(jetcnn, src, out)
        if r.returncode != 3 or expect not in r.stderr:
            fail(f"{name}: exit {r.returncode}, stderr {r.stderr.strip()!r}; expected 3 and {expect!r}")
        if os.path.exists(out) or os.path.exists(out + ".tmp"):
            fail(f"{name}: output left behind")
        print(f"{name}: rejected: {r.stderr.strip()}")
    # The documented layout without a `format` attribute (written with plain h5py): accepted.
    src = os.path.join(tmp, "noformat.h5")
    write_file(src, good, labels, fmt=None)
    r = run_images(jetcnn, src, os.path.join(tmp, "noformat_out.h5"))
    if r.returncode != 0 or not os.path.exists(os.path.join(tmp, "noformat_out.h5")):
        fail(f"a constituents file without a format attribute: exit {r.returncode}: {r.stderr.strip()!r}; expected 0")
    print("noformat: accepted")
    src = os.path.join(tmp, "good.h5")
    write_file(src, good, labels)
    r = run_images(jetcnn, src, os.path.join(tmp, "good_out.h5"), "--channels", "color")
    if r.returncode != 3 or "/charged" not in r.stderr:
        fail(f"color without /charged: exit {r.returncode}: {r.stderr!r}")
    r = run_images(jetcnn, os.path.join(tmp, "missing.h5"), os.path.join(tmp, "x.h5"))
    if r.returncode != 3:
        fail(f"missing input: exit {r.returncode}")
    r = run_images(jetcnn, src, os.path.join(tmp, "x.h5"), "--pixels", "zero")
    if r.returncode != 2:
        fail(f"bad --pixels: exit {r.returncode}")
    r = run_images(jetcnn, src, os.path.join(tmp, "good_out.h5"))
    if r.returncode != 0:
        fail(f"good file: exit {r.returncode}: {r.stderr}")


def convert(jetcnn, tmp):
    import pandas as pd
    os.makedirs(tmp, exist_ok=True)
    rng = np.random.default_rng(5)
    n, m = 300, 200
    data = np.zeros((n, m, 4))
    for i in range(n):
        k = int(rng.integers(0, 60)) if i != 3 else (0 if i == 3 else 1)  # jet 3 is empty
        pt = rng.exponential(20.0, k) + 1.0
        eta, phi = rng.normal(0.5, 0.2, k), rng.normal(3.0, 0.2, k)  # straddles phi = pi
        data[i, :k] = np.stack([pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], axis=1)
    columns = {}
    for k in range(m):
        for j, part in enumerate(("E", "PX", "PY", "PZ")):
            columns[f"{part}_{k}"] = data[:, k, j]
    labels = rng.integers(0, 2, n)
    columns["truthE"] = np.zeros(n)
    columns["is_signal_new"] = labels
    frame = pd.DataFrame(columns)
    here = os.path.dirname(os.path.abspath(__file__))
    script = os.path.join(here, "..", "analysis", "convert_toptagging.py")
    for fmt in ("fixed", "table"):
        ref = os.path.join(tmp, f"ref_{fmt}.h5")
        frame.to_hdf(ref, key="table", mode="w", format=fmt)
        conv = os.path.join(tmp, f"ref_{fmt}_jets.h5")
        r = subprocess.run([sys.executable, script, ref, conv, "--chunk", "64"], capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"convert ({fmt}): {r.stderr}")
        with h5py.File(conv, "r") as f:
            if not np.array_equal(f["constituents"][:], data.astype(np.float32)):
                fail(f"converted constituents differ ({fmt})")
            if not np.array_equal(f["labels"][:], labels):
                fail(f"converted labels differ ({fmt})")
        out = os.path.join(tmp, f"ref_{fmt}_images.h5")
        r = run_images(jetcnn, conv, out)
        if r.returncode != 0:
            fail(f"jetcnn images on the converted file: {r.stderr}")
        with h5py.File(out, "r") as f:
            img, n_const = f["images"][:], f["n_constituents"][:]
            if img.shape != (n, 40, 40) or not np.array_equal(f["labels"][:], labels):
                fail(f"images file: shape {img.shape}")
            sums = img.reshape(n, -1).sum(axis=1)
            if sums[3] != 0.0 or n_const[3] != 0:
                fail("the empty jet must give an empty image and 0 constituents")
            expected = (data[:, :, 0] != 0).sum(axis=1)
            if not np.array_equal(n_const, expected):
                fail("n_constituents differs from the input's non-padding rows")
        print(f"{fmt}: converted and imaged {n} jets")




def write_share(strace, mpiexec, jetcnn, tmp):
    """Each rank writes only its own chunks: trace the file writes of a 2-rank generate and
    check that no process wrote more than 3/4 of the file (a writer that makes every rank
    store every chunk writes the whole file from each)."""
    try:
        traced = subprocess.run([strace, "-o", os.devnull, "true"], capture_output=True).returncode == 0
    except OSError:
        traced = False
    if not traced:
        sys.exit(f"FAIL: write-share needs strace with ptrace ({strace}); install Debian's strace")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    out = os.path.join(tmp, "share.h5")
    cmd = [mpiexec, "-np", "2", "--oversubscribe", strace, "-ff", "-e", "trace=pwrite64,pwritev",
           "-o", os.path.join(tmp, "trace"), jetcnn, "generate", "--jets", "8192", "--seed", "3", "--out", out]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"{' '.join(cmd)} exited with {r.returncode}: {r.stderr[-2000:]}")
    size = os.path.getsize(out)
    written = {}
    for path in glob.glob(os.path.join(tmp, "trace.*")):
        total = 0
        with open(path) as f:
            for line in f:
                m = re.search(r"= (\d+)$", line.strip())
                if line.startswith(("pwrite64(", "pwritev(")) and m:
                    total += int(m.group(1))
        if total:
            written[os.path.basename(path)] = total
    if len(written) < 2 or sum(written.values()) < 0.9 * size:
        fail(f"traced writes {written} do not add up to the file's {size} bytes")
    worst = max(written.values())
    if worst > 0.75 * size:
        fail(f"a process wrote {worst} bytes of a {size}-byte file with 2 ranks: {written}")
    print(f"2 ranks wrote {sorted(written.values())} bytes of a {size}-byte file")


def rank_wrapper(path, jetcnn, rank1_args=None, rank1_dir=None, pid_dir=None):
    """A wrapper script for mpiexec: rank 1 runs with other arguments or in another directory
    (another node's view); with pid_dir every rank leaves its pid there first (exec keeps it)."""
    lines = ["#!/bin/sh", 'r=${OMPI_COMM_WORLD_RANK:-0}']
    if pid_dir:
        lines.append(f'echo $$ > "{pid_dir}/pid.$r"')
    lines.append('if [ "$r" = 1 ]; then')
    lines.append(f"  cd '{rank1_dir}'" if rank1_dir else "  :")
    if rank1_args is not None:
        lines.append("  set -- " + " ".join(f"'{a}'" for a in rank1_args))
    lines += ["fi", f'exec "{jetcnn}" "$@"', ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))
    os.chmod(path, 0o755)
    return path


def expect_stop(r, what, code, message, tmp_dir):
    """r (CompletedProcess) exited with code, stderr names message once, no .tmp left in tmp_dir."""
    errors = [l for l in r.stderr.splitlines() if "jetcnn: error:" in l]
    if r.returncode != code or len(errors) != 1 or not re.search(message, errors[0]):
        fail(f"{what}: exit {r.returncode} (expected {code}), error lines {errors}; expected one matching /{message}/\n"
             f"{r.stderr[-1500:]}")
    left = glob.glob(os.path.join(tmp_dir, "*.tmp"))
    if left:
        fail(f"{what}: temporary files left behind: {left}")
    print(f"{what}: {errors[0]}")


def lockstep(mpiexec, jetcnn, tmp):
    jetcnn = os.path.abspath(jetcnn)
    shutil.rmtree(tmp, ignore_errors=True)
    node1, node2 = os.path.join(tmp, "node1"), os.path.join(tmp, "node2")
    os.makedirs(node1)
    os.makedirs(node2)
    launch = [mpiexec, "-np", "2", "--oversubscribe"]
    # different arguments on rank 1 (each valid on its own)
    args = ["generate", "--jets", "3000", "--seed", "5", "--out", "x.h5"]
    w = rank_wrapper(os.path.join(tmp, "seed.sh"), jetcnn, rank1_args=args[:4] + ["6"] + args[5:])
    r = subprocess.run(launch + [w] + args, cwd=node1, capture_output=True, text=True, timeout=60)
    expect_stop(r, "generate, --seed differs on rank 1", 2,
                r"rank 1 \(.*\): the command line differs from rank 0's: '--seed 6' here, '--seed 5' on rank 0", node1)
    # --help on rank 0 only
    w = rank_wrapper(os.path.join(tmp, "help.sh"), jetcnn, rank1_args=["generate", "--help"])
    r = subprocess.run(launch + [w] + args, cwd=node1, capture_output=True, text=True, timeout=60)
    expect_stop(r, "generate --help on rank 1 only", 2, r"command line differs from rank 0's", node1)
    # the same relative path names files of different lengths on the two "nodes"
    for d, n in ((node1, 600), (node2, 700)):
        c = np.zeros((n, 10, 4), np.float32)
        c[:, 0] = [300.0, 300.0, 0.0, 0.0]
        write_file(os.path.join(d, "c.h5"), c, np.arange(n) % 2)
    w = rank_wrapper(os.path.join(tmp, "node.sh"), jetcnn, rank1_dir=node2)
    r = subprocess.run(launch + [w, "images", "--in", "c.h5", "--out", "o.h5"], cwd=node1, capture_output=True,
                       text=True, timeout=60)
    expect_stop(r, "images, input of another length on rank 1", 3,
                r"rank 1 \(.*\): the content of --in c\.h5 differs from rank 0's: '/constituents float32 \(700,10,4\)' here, "
                r"'/constituents float32 \(600,10,4\)' on rank 0", node1)
    for d in (node1, node2):
        if os.path.exists(os.path.join(d, "o.h5")) or os.path.exists(os.path.join(d, "x.h5")):
            fail(f"an output was written in {d}")


def start_and_signal(cmd, cwd, tmp_file, send, what):
    """Start cmd, wait until tmp_file exists (the writing has begun), call send(process), and
    return the finished process's (returncode, stdout, stderr)."""
    p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    t0 = time.monotonic()
    while not os.path.exists(tmp_file):
        if p.poll() is not None or time.monotonic() - t0 > 60:
            p.kill()
            out, err = p.communicate()
            fail(f"{what}: {tmp_file} never appeared (exit {p.returncode}): {err[-1500:]}")
        time.sleep(0.02)
    time.sleep(0.3)
    send(p)
    try:
        out, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        fail(f"{what}: still running 60 s after the signal")
    return subprocess.CompletedProcess(cmd, p.returncode, out, err)


def interrupt(mpiexec, jetcnn, tmp):
    jetcnn = os.path.abspath(jetcnn)
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    big = ["generate", "--jets", "2000000", "--out", "big.h5"]
    r = start_and_signal([jetcnn] + big, tmp, os.path.join(tmp, "big.h5.tmp"),
                         lambda p: p.send_signal(signal.SIGINT), "generate, SIGINT")
    expect_stop(r, "generate, 1 process, SIGINT", 1, r"generate: stopped by SIGINT after \d+ of 2000000 jets", tmp)
    pids = os.path.join(tmp, "pids")
    os.makedirs(pids)
    w = rank_wrapper(os.path.join(tmp, "pid.sh"), jetcnn, pid_dir=pids)

    def term_rank1(p):
        t0 = time.monotonic()
        while not os.path.exists(os.path.join(pids, "pid.1")) and time.monotonic() - t0 < 30:
            time.sleep(0.02)
        with open(os.path.join(pids, "pid.1")) as f:
            os.kill(int(f.read()), signal.SIGTERM)
    launch = [mpiexec, "-np", "2", "--oversubscribe"]
    r = start_and_signal(launch + [w] + big, tmp, os.path.join(tmp, "big.h5.tmp"), term_rank1, "generate, rank 1")
    expect_stop(r, "generate, 2 ranks, SIGTERM to rank 1 only", 1, r"generate: stopped by SIGTERM", tmp)
    # Ctrl-C on mpiexec: Open MPI sends SIGTERM to the ranks and SIGKILL one second later,
    # which may come before a round ends on a busy machine; the .tmp must be gone all the same
    r = start_and_signal(launch + [jetcnn] + big, tmp, os.path.join(tmp, "big.h5.tmp"),
                         lambda p: p.send_signal(signal.SIGINT), "generate, mpiexec")
    left = glob.glob(os.path.join(tmp, "*.tmp"))
    if r.returncode == 0 or left:
        fail(f"generate, 2 ranks, SIGINT to mpiexec: exit {r.returncode}, left behind {left}\n{r.stderr[-1500:]}")
    print(f"generate, 2 ranks, SIGINT to mpiexec: exit {r.returncode}, no .tmp left")
    # images: an input big enough to be stopped in the middle
    r = subprocess.run([jetcnn, "generate", "--no-images", "--jets", "150000", "--out", "c.h5"], cwd=tmp,
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        fail(f"generate --no-images failed: {r.stderr}")
    r = start_and_signal([jetcnn, "images", "--in", "c.h5", "--out", "img.h5", "--pixels", "80"], tmp,
                         os.path.join(tmp, "img.h5.tmp"), lambda p: p.send_signal(signal.SIGTERM), "images, SIGTERM")
    expect_stop(r, "images, 1 process, SIGTERM", 1, r"images: stopped by SIGTERM after \d+ of 150000 jets", tmp)
    for name in ("big.h5", "img.h5"):
        if os.path.exists(os.path.join(tmp, name)):
            fail(f"{name} was written although the run was stopped")


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "compare" and len(sys.argv) == 4:
        compare(sys.argv[2], sys.argv[3])
    elif cmd == "physics" and len(sys.argv) == 3:
        physics(sys.argv[2])
    elif cmd == "bad-inputs" and len(sys.argv) == 4:
        bad_inputs(sys.argv[2], sys.argv[3])
    elif cmd == "convert" and len(sys.argv) == 4:
        convert(sys.argv[2], sys.argv[3])
    elif cmd == "write-share" and len(sys.argv) == 6:
        write_share(*sys.argv[2:6])
    elif cmd == "lockstep" and len(sys.argv) == 5:
        lockstep(*sys.argv[2:5])
    elif cmd == "interrupt" and len(sys.argv) == 5:
        interrupt(*sys.argv[2:5])
    else:
        print(__doc__)
        sys.exit(2)
