#!/usr/bin/python3
"""A short single-process training run and prediction (DeepTop config on toy 40x40 jets, one
epoch) for memory checkers: run against the sanitizer build, or with --wrap under valgrind.
Fails when a command exits non-zero or its output holds a sanitizer or valgrind report.

usage: short_run.py --jetcnn BIN --config CFG --workdir DIR [--jets N] [--wrap "valgrind ..."]
"""
import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys

REPORT = re.compile(r"ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: .*Sanitizer|"
                    r"ERROR SUMMARY: [1-9]|definitely lost: [1-9]|indirectly lost: [1-9]")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jetcnn", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--jets", type=int, default=128)
    ap.add_argument("--wrap", default="", help="command line to run jetcnn under, e.g. valgrind options")
    a = ap.parse_args()
    shutil.rmtree(a.workdir, ignore_errors=True)
    os.makedirs(a.workdir)
    toy = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "toy_data.py")
    train, val = os.path.join(a.workdir, "train.h5"), os.path.join(a.workdir, "val.h5")
    for path, seed in ((train, 1), (val, 2)):
        subprocess.run([sys.executable, toy, path, "--n", str(a.jets), "--seed", str(seed)], check=True)
    run = os.path.join(a.workdir, "run")
    steps = [
        ["train", a.config, "--train", train, "--val", val, "--out", run, "--set", "epochs=1", "--set", "batch=32"],
        ["predict", os.path.join(run, "checkpoint.h5"), "--data", val, "--out", os.path.join(a.workdir, "scores.h5")],
    ]
    failed = 0
    for step in steps:
        cmd = shlex.split(a.wrap) + [a.jetcnn] + step
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
        bad = REPORT.search(r.stderr) or REPORT.search(r.stdout)
        ok = r.returncode == 0 and not bad
        print(f"{'ok  ' if ok else 'FAIL'} jetcnn {step[0]} (exit {r.returncode})")
        for line in r.stderr.splitlines():
            if "ERROR SUMMARY" in line or "definitely lost" in line or "in use at exit" in line:
                print("     " + line)
        if not ok:
            failed += 1
            print(r.stderr[-6000:])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
