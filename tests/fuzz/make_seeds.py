#!/usr/bin/python3
"""Write the fuzzers' seed corpora: OUT/config (configs/*.cfg and every config the bad-input
table builds) and OUT/h5input (every HDF5 jets file the bad-input table builds, valid ones
included). The corpora are generated, not stored, so they follow the table.

usage: make_seeds.py OUT
"""
import glob
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
import bad_input  # noqa: E402  (the table of cases and its fixture writers)

MAX_SEED = 64 * 1024  # bigger seeds (the 1 MB line) would make every fuzz input that long


def main():
    out = os.path.abspath(sys.argv[1])
    dirs = {kind: os.path.join(out, kind) for kind in ("config", "h5input")}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)
    for cfg in glob.glob(os.path.join(HERE, "..", "..", "configs", "*.cfg")):
        shutil.copy(cfg, os.path.join(dirs["config"], os.path.basename(cfg)))
    with tempfile.TemporaryDirectory() as tmp:
        base = os.path.join(tmp, "base")
        os.makedirs(base)
        with open(os.path.join(base, "tiny.cfg"), "w") as f:
            f.write(bad_input.TINY_CFG)
        bad_input.write_jets(os.path.join(base, "good.h5"))
        shutil.copy(os.path.join(base, "tiny.cfg"), os.path.join(dirs["config"], "tiny.cfg"))
        shutil.copy(os.path.join(base, "good.h5"), os.path.join(dirs["h5input"], "good.h5"))
        for c in bad_input.CASES:
            if c["needs"] or not c["name"].startswith(("cfg_", "h5_", "set_")):
                continue
            ctx = bad_input.Ctx(os.path.join(tmp, c["name"]), base)
            os.makedirs(ctx.dir)
            try:
                c["setup"](ctx)
            except Exception as e:  # a case that needs fixtures made here: no seed from it
                print(f"make_seeds: {c['name']}: skipped ({e})")
                continue
            for name in os.listdir(ctx.dir):
                p = os.path.join(ctx.dir, name)
                if not os.path.isfile(p) or os.path.getsize(p) > MAX_SEED:
                    continue
                kind = "config" if name.endswith(".cfg") else "h5input" if name.endswith(".h5") else None
                if kind:
                    shutil.copy(p, os.path.join(dirs[kind], f"{c['name']}-{name}"))
    for kind, d in dirs.items():
        print(f"make_seeds: {len(os.listdir(d))} {kind} seeds in {d}")


if __name__ == "__main__":
    main()
