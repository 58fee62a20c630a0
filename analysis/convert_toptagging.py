#!/usr/bin/python3
"""Convert a Top Tagging reference file (pandas HDF5, key 'table', columns E_0, PX_0, PY_0,
PZ_0, ..., PZ_199, is_signal_new) into jetcnn's constituent layout (docs/formats.md):

  /constituents (N, M, 4) float32  E, px, py, pz per constituent, zero-padded
  /labels       (N,)      int32    0 = QCD, 1 = top (from is_signal_new)
  root attribute format = "jetcnn-constituents-1"

Rows are streamed in chunks, so the 1.2 M-jet training file converts in bounded memory.
Then: jetcnn images --in OUT --out images.h5
"""
import argparse
import os
import re
import sys

import h5py
import numpy as np
import pandas as pd

FORMAT = "jetcnn-constituents-1"


def constituent_columns(columns):
    """Column indices of (E, PX, PY, PZ) for constituents 0..M-1, and M."""
    index = {name: i for i, name in enumerate(columns)}
    m = 0
    while f"E_{m}" in index:
        m += 1
    if m == 0:
        raise ValueError("no E_0 column: not a Top Tagging reference table")
    order = []
    for k in range(m):
        for part in ("E", "PX", "PY", "PZ"):
            name = f"{part}_{k}"
            if name not in index:
                raise ValueError(f"column {name} is missing")
            order.append(index[name])
    if "is_signal_new" not in index:
        raise ValueError("column is_signal_new is missing")
    return np.array(order), index["is_signal_new"], m


class FixedReader:
    """A pandas 'fixed' frame read row-block by row-block straight from its HDF5 arrays."""

    def __init__(self, path, key):
        self.file = h5py.File(path, "r")
        group = self.file[key]
        self.blocks = []
        self.columns = []
        b = 0
        while f"block{b}_values" in group:
            items = [x.decode() if isinstance(x, bytes) else str(x) for x in group[f"block{b}_items"][:]]
            self.blocks.append(group[f"block{b}_values"])
            self.columns += items
            b += 1
        if not self.blocks:
            raise ValueError(f"{path}: key {key} holds no pandas frame blocks")
        self.n_rows = self.blocks[0].shape[0]

    def rows(self, start, stop):
        return np.concatenate([blk[start:stop] for blk in self.blocks], axis=1)


class TableReader:
    """A pandas 'table' frame read with HDFStore.select(start, stop)."""

    def __init__(self, path, key):
        self.store = pd.HDFStore(path, mode="r")
        self.key = key
        storer = self.store.get_storer(key)
        self.n_rows = storer.nrows
        self.columns = [str(c) for c in self.store.select(key, start=0, stop=1).columns]

    def rows(self, start, stop):
        return self.store.select(self.key, start=start, stop=stop).to_numpy()


def open_reader(path, key):
    with pd.HDFStore(path, mode="r") as store:
        if f"/{key}" not in store.keys():
            raise ValueError(f"{path}: no key '{key}' (keys: {', '.join(store.keys())})")
        is_table = store.get_storer(key).is_table
    return TableReader(path, key) if is_table else FixedReader(path, key)


def convert(src, dst, key="table", chunk=100_000, limit=None):
    reader = open_reader(src, key)
    order, label_col, m = constituent_columns(reader.columns)
    n = reader.n_rows if limit is None else min(limit, reader.n_rows)
    tmp = dst + ".tmp"
    with h5py.File(tmp, "w") as out:
        out.attrs["format"] = FORMAT
        out.attrs["source"] = os.path.basename(src)
        rows = min(256, max(n, 1))
        cons = out.create_dataset("constituents", (n, m, 4), dtype="f4", chunks=(rows, m, 4),
                                  shuffle=True, compression="gzip", compression_opts=1)
        labels = out.create_dataset("labels", (n,), dtype="i4", chunks=(rows,), shuffle=True,
                                    compression="gzip", compression_opts=1)
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            block = np.asarray(reader.rows(start, stop), dtype=np.float64)
            c = block[:, order].reshape(stop - start, m, 4)
            if not np.isfinite(c).all():
                bad = np.argwhere(~np.isfinite(c))[0]
                raise ValueError(f"row {start + bad[0]} constituent {bad[1]}: non-finite momentum")
            lab = block[:, label_col]
            if not np.isin(lab, (0, 1)).all():
                raise ValueError(f"is_signal_new holds values other than 0/1 in rows {start}..{stop}")
            cons[start:stop] = c.astype(np.float32)
            labels[start:stop] = lab.astype(np.int32)
            print(f"converted {stop}/{n} jets", file=sys.stderr)
    os.replace(tmp, dst)
    return n, m


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", help="Top Tagging reference file (train.h5, val.h5 or test.h5)")
    ap.add_argument("dst", help="output HDF5 file in jetcnn's constituent layout")
    ap.add_argument("--key", default="table", help="pandas key (default: table)")
    ap.add_argument("--chunk", type=int, default=100_000, help="rows per streamed chunk (default 100000)")
    ap.add_argument("--limit", type=int, default=None, help="convert only the first N jets")
    args = ap.parse_args(argv)
    try:
        n, m = convert(args.src, args.dst, args.key, args.chunk, args.limit)
    except (OSError, ValueError, KeyError) as e:
        print(f"convert_toptagging: error: {e}", file=sys.stderr)
        return 3
    print(f"wrote {args.dst}: {n} jets, {m} constituents each")
    return 0


if __name__ == "__main__":
    sys.exit(main())
